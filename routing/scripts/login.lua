-- login.lua: add queue memberships (R-MULTI); from logged out the agent becomes ready.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] agent id           ARGV[5] msgpack sorted list of queue names
-- Errors: unknown-agent, unknown-queue.
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local agent = get_agent(ARGV[4])
if agent == nil then return redis.error_reply('unknown-agent: ' .. ARGV[4]) end
local names = cmsgpack.unpack(ARGV[5])
for _, name in ipairs(names) do
  if get_queue(name) == nil then return redis.error_reply('unknown-queue: ' .. name) end
end
for _, name in ipairs(names) do
  if not in_list(agent.qs, name) then agent.qs[#agent.qs + 1] = name end
end
table.sort(agent.qs, str_lt)
refresh_served(agent)
if agent.st == 'logged_out' then
  agent.st = 'ready'
  agent.idle = NOW
end
save_agent(agent)
log('login', agent.id, '', table.concat(names, ','))
F.route_agent(agent)
return done()
