-- put_queue.lua: create or replace a queue's configuration (R-LIVECONF).
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] msgpack queue config {name, sk, steps, pw, pt, cp, wrap, rto, nas, aht, ms, cv, mewt}
-- Returns msgpack [[reservation id, agent, contact, expires at], ...] (passive agents woken).

local cfg = cmsgpack.unpack(ARGV[4])
redis.call('SET', K.queue(cfg.name), ARGV[4])
redis.call('SADD', K.queues(), cfg.name)
QUEUES[cfg.name] = cfg
log('queue', '', '', cfg.name)
sync_passive_timer(cfg.name, true)
F.activate(cfg.name)
return done()
