-- complete.lua: a contact in progress ended: handle-time statistics (R-EWT), wrap-up after
-- a voice-class contact (R-WRAP), else the agent is free again.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] contact id         ARGV[5] handle seconds (decimal string)
-- Errors: unknown-contact, invalid-transition (not busy).
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local contact = get_contact(ARGV[4])
if contact == nil then return redis.error_reply('unknown-contact: ' .. ARGV[4]) end
if contact.st ~= 'busy' then
  return redis.error_reply('invalid-transition: contact ' .. contact.id .. ' is not busy')
end
local handle = tonumber(ARGV[5])
local stats_key = K.stats(contact.q)
local raw = redis.call('GET', stats_key)
local count, mean, m2 = 0, 0, 0
if raw then
  local stats = cmsgpack.unpack(raw)
  count, mean, m2 = stats[1], stats[2], stats[3]
end
count = count + 1
local delta = handle - mean
mean = mean + delta / count
m2 = m2 + delta * (handle - mean)
redis.call('SET', stats_key, cmsgpack.pack({count, mean, m2}))
local agent = get_agent(contact.ag)
local cls = CLASS[contact.ch]
agent.ld[cls] = agent.ld[cls] - 1
agent.as[contact.id] = nil
forget_contact(contact)
log('complete', agent.id, contact.id, '')
local free = false
if agent.st == 'ready' then
  local wrap = get_queue(contact.q).wrap
  if cls == 'voice' and wrap > 0 then
    agent.st = 'wrap_up'
    agent.wu = NOW + wrap
    set_timer('w|' .. agent.id, agent.wu)
  else
    agent.idle = NOW
    free = true
  end
end
save_agent(agent)
if free then F.route_agent(agent) end
return done()
