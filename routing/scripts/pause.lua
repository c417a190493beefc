-- pause.lua: the agent pauses with a reason (R-PAUSE); pending reservations are released
-- and their contacts offered elsewhere.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] agent id           ARGV[5] reason
-- Errors: unknown-agent, invalid-transition (logged out).
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local agent = get_agent(ARGV[4])
if agent == nil then return redis.error_reply('unknown-agent: ' .. ARGV[4]) end
if agent.st == 'logged_out' then
  return redis.error_reply('invalid-transition: agent ' .. agent.id .. ' is logged out')
end
F.pause_agent(agent, ARGV[5], nil)
return done()
