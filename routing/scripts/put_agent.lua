-- put_agent.lua: create an agent, or update its profile and keep its state.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] msgpack profile {id, sk (skill -> level), lg (languages), pv (passive), cc, ce}
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local profile = cmsgpack.unpack(ARGV[4])
local agent = get_agent(profile.id)
if agent == nil then
  agent = {id = profile.id, st = 'logged_out', idle = 0, qs = {},
           ld = {voice = 0, chat = 0, email = 0}, as = {}}
  redis.call('SADD', K.agents(), profile.id)
end
agent.sk = profile.sk
agent.lg = profile.lg
agent.pv = profile.pv
agent.cc = profile.cc
agent.ce = profile.ce
refresh_served(agent)
save_agent(agent)
log('agent', agent.id, '', '')
F.route_agent(agent)
return done()
