-- abandon.lua: the caller hung up while waiting or being offered; a freed agent may pick
-- another contact.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] contact id
-- Errors: unknown-contact, invalid-transition (busy: use complete).
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local contact = get_contact(ARGV[4])
if contact == nil then return redis.error_reply('unknown-contact: ' .. ARGV[4]) end
if contact.st == 'busy' then
  return redis.error_reply('invalid-transition: contact ' .. contact.id .. ' is in progress')
end
log('abandon', contact.ag, contact.id, '')
forget_contact(contact)
if contact.st == 'waiting' and contact.rk == nil then
  leave_waiting(contact)
elseif contact.st == 'waiting' then
  redis.call('ZREM', K.targeted(contact.tg), contact.id)
elseif contact.st == 'reserved' then
  local agent = get_agent(contact.ag)
  local cls = CLASS[contact.ch]
  agent.ld[cls] = agent.ld[cls] - 1
  agent.as[contact.id] = nil
  save_agent(agent)
  F.route_agent(agent)
end
return done()
