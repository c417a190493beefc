-- unpause.lua: a paused agent is ready again, at the back of the line.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] agent id
-- Errors: unknown-agent, invalid-transition (not paused).
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local agent = get_agent(ARGV[4])
if agent == nil then return redis.error_reply('unknown-agent: ' .. ARGV[4]) end
if agent.st ~= 'paused' then
  return redis.error_reply('invalid-transition: agent ' .. agent.id .. ' is not paused')
end
agent.st = 'ready'
agent.rs = nil
agent.idle = NOW
save_agent(agent)
log('unpause', agent.id, '', '')
F.route_agent(agent)
return done()
