-- confirm.lua: the agent answered; the reservation becomes a contact in progress.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] contact id         ARGV[5] reservation id
-- Errors: unknown-reservation, reservation-expired.
-- Returns msgpack [].

local contact = get_contact(ARGV[4])
if contact == nil or contact.st ~= 'reserved' or contact.rid ~= ARGV[5] then
  return redis.error_reply('unknown-reservation: ' .. ARGV[5])
end
if contact.ex <= NOW then return redis.error_reply('reservation-expired: ' .. ARGV[5]) end
contact.st = 'busy'
save_contact(contact)
local agent = get_agent(contact.ag)
agent.as[contact.id] = 'busy'
save_agent(agent)
redis.call('ZREM', TIMERS, 'e|' .. contact.id, 'r|' .. contact.id, 'x|' .. contact.id)
log('confirm', agent.id, contact.id, '')
return done()
