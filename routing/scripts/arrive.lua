-- arrive.lua: a contact arrives (decision (a)): offered to the longest-idle eligible agent,
-- else queued in every queue of Q(C) (or for its private/sticky agent).
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] msgpack contact {id, ch, q, arr, sk, lang, pr, tg = {id, kind, sec} or nil}
-- Errors: unknown-queue, duplicate-contact, unknown-agent (target).
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local given = cmsgpack.unpack(ARGV[4])
local cfg = get_queue(given.q)
if cfg == nil then return redis.error_reply('unknown-queue: ' .. given.q) end
if redis.call('EXISTS', K.contact(given.id)) == 1 then
  return redis.error_reply('duplicate-contact: ' .. given.id)
end
if given.tg ~= nil and get_agent(given.tg.id) == nil then
  return redis.error_reply('unknown-agent: ' .. given.tg.id)
end
local priority = math.min(MAX_PRIORITY, given.pr + (cfg.cp[given.ch] or 0))
local req = {}
for skill, level in pairs(cfg.sk) do req[skill] = level end
for skill, level in pairs(given.sk) do req[skill] = math.max(req[skill] or 0, level) end
local contact = {
  id = given.id, ch = given.ch, q = cfg.name, qs = {cfg.name}, rq = req, lang = given.lang,
  pr = priority, arr = given.arr, sc = score_of(priority, given.arr), steps = cfg.steps,
  st = 'placing', ap = 0, at = 0, an = 0,
}
redis.call('SADD', K.contacts(), contact.id)
save_contact(contact)
log('arrive', '', contact.id, cfg.name)
F.escalate_due(contact)
if given.tg ~= nil then
  contact.tg = given.tg.id
  local limit = given.arr + given.tg.sec
  if limit > NOW and (given.tg.kind == 'private' or sticky_holds(contact)) then
    contact.rk = given.tg.kind
    contact.un = limit
    set_timer('x|' .. contact.id, limit)
  end
  save_contact(contact)
end
F.place(contact)
return done()
