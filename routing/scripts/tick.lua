-- tick.lua: run due timers in order of (due time, member), each at its due time
-- (docs/ROUTING.md, "Late ticks"): reservation expiry (r|contact),
-- wrap-up end (w|agent), escalation (e|contact), private/sticky expiry (x|contact),
-- passive activation by waiting time (p|queue).
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] maximum number of timers to run
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local limit = tonumber(ARGV[4])
for _ = 1, limit do
  local head = redis.call('ZRANGEBYSCORE', TIMERS, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, 1)
  if #head == 0 then break end
  redis.call('ZREM', TIMERS, head[1])
  -- The timer takes effect at its due time however late this tick is (its cascade never
  -- sets a timer due before it). Redis writes the score exactly (%.17g or shortest form).
  AT, AT_TEXT = tonumber(head[2]), head[2]
  F.fire(head[1])
end
AT, AT_TEXT = NOW, NOW_TEXT
return done()
