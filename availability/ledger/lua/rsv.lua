--[[ The record side of a reservation operation whose SKUs live in other partitions than its record
(a saga: begin here, one hold.lua 'apply' step per partition, then commit here, or undo every step and
abort here). The record is a hash: v version (0 while a new reservation is being made), d the state
as JSON, s status, 'f:<sku> <place>' ring-fence units a line took; while an operation is in flight,
pe its epoch, pd/ps/px the state, status and deadline it will commit, pr its steps' rows (so that
anyone can roll it back), pa set once a roll-back has begun (a commit is then refused).
KEYS  1 record, 2 deadline set, 3 pending set (operations in flight, by the time they may be rolled
      back), 4 the partition's meta
ARGV  1 mode: begin | commit | mark | abort, 2 epoch, then
      begin:  3 version expected (0: the reservation must not exist), 4 JSON, 5 status, 6 deadline
              (0: none), 7 roll-back time (ms), 8 rows of the steps, 9 the JSON of a new reservation,
              10 the generation the steps write to
      commit: 3 record fields and increments, '\n'-joined, 4 time to keep the record once closed (ms,
              0: for good)
Reply begin {0} or {2, version, JSON, epoch in flight or ''}; commit {0, version} or {3} (rolled back)
      or {4} (its steps wrote to a generation that a snapshot load has replaced) or {-2} (a load is carrying
      the holds over: try again shortly);
      mark and abort {0} or {3} (another epoch, or none, is in flight). ]]

local mode, epoch = ARGV[1], ARGV[2]
local key = KEYS[1]

if mode == 'begin' then
  local cur = redis.call('HMGET', key, 'v', 'd', 'pe')
  local v = tonumber(cur[1] or '0')
  if cur[3] or v ~= tonumber(ARGV[3]) or (v == 0 and cur[2]) then
    return {2, v, cur[2] or '', cur[3] or ''}
  end
  if v == 0 then
    redis.call('HSET', key, 'v', 0, 'd', ARGV[9])
  end
  redis.call('HSET', key, 'pe', epoch, 'pd', ARGV[4], 'ps', ARGV[5], 'px', ARGV[6], 'pr', ARGV[8], 'pg', ARGV[10])
  redis.call('ZADD', KEYS[3], ARGV[7], key)
  return {0}
end

local pe = redis.call('HMGET', key, 'pe', 'pa')
if pe[1] ~= epoch then
  return {3}
end

if mode == 'commit' then
  if pe[2] then return {3} end
  local m = redis.call('HMGET', KEYS[4], 'gen', 'lk')
  if m[2] then
    local t = redis.call('TIME')
    if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < tonumber(m[2]) then return {-2} end
  end
  if m[1] ~= redis.call('HGET', key, 'pg') then return {4} end
  local got = redis.call('HMGET', key, 'v', 'pd', 'ps', 'px')
  local v = tonumber(got[1] or '0') + 1
  redis.call('HSET', key, 'v', v, 'd', got[2], 's', got[3])
  local items = {}
  for item in string.gmatch(ARGV[3], '[^\n]+') do items[#items + 1] = item end
  for j = 1, #items, 2 do redis.call('HINCRBY', key, items[j], items[j + 1]) end
  redis.call('HDEL', key, 'pe', 'pd', 'ps', 'px', 'pr', 'pa', 'pg')
  redis.call('ZREM', KEYS[3], key)
  if got[4] ~= '0' then
    redis.call('ZADD', KEYS[2], got[4], key)
  else
    redis.call('ZREM', KEYS[2], key)
  end
  if ARGV[4] ~= '0' then redis.call('PEXPIRE', key, ARGV[4]) end
  return {0, v}
end

if mode == 'mark' then
  redis.call('HSET', key, 'pa', 1)
  return {0}
end

-- abort: the steps are undone; the record is as before the operation (a new one is gone)
redis.call('HDEL', key, 'pe', 'pd', 'ps', 'px', 'pr', 'pa', 'pg')
redis.call('ZREM', KEYS[3], key)
if tonumber(redis.call('HGET', key, 'v') or '0') == 0 then
  redis.call('DEL', key)
end
return {0}
