-- put_queue.lua: create or replace a queue's configuration (R-LIVECONF).
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] msgpack queue config {name, sk, steps, pw, pt, cp, wrap, rto, nas, aht, ms, cv, mewt}
-- Returns msgpack [[reservation id, agent, contact, expires at], ...] (agents that now serve
-- the queue, then passive agents woken).

local cfg = cmsgpack.unpack(ARGV[4])
local old_floor = get_queue(cfg.name) and skill_floor(cfg.name)
redis.call('SET', K.queue(cfg.name), ARGV[4])
redis.call('SADD', K.queues(), cfg.name)
QUEUES[cfg.name] = cfg
FLOORS[cfg.name] = nil
local new_floor = skill_floor(cfg.name)
log('queue', '', '', cfg.name)
sync_passive_timer(cfg.name, true)

local same = true
if old_floor then
  for skill, level in pairs(old_floor) do
    if new_floor[skill] ~= level then same = false end
  end
  for skill, level in pairs(new_floor) do
    if old_floor[skill] ~= level then same = false end
  end
end
if not same then
  for _, agent in ipairs(reindex_queue(cfg.name)) do F.route_agent(agent) end
end
F.activate(cfg.name)
return done()
