--[[ Explicit safety stock of positions of ONE partition, creating positions that do not exist yet
(as the read model's ensure_slots does). The client has validated every entry.
KEYS  1 partition meta, 2 change stream, then the counters hash of each SKU of ARGV[4], in that order
ARGV  1 generation expected, 2 stream MAXLEN, 3 number of SKUs, 4 the SKU ids joined by spaces,
      5 rows, packed '<i4i4i4' (sku 0-based, location, safety stock or -1: back to the type default)
Reply {0, gen, seq before, seq after} or {-1, live generation}. ]]

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq')
if meta[1] ~= ARGV[1] then
  return {-1, meta[1] or ''}
end
local seq0 = tonumber(meta[2]) or 0
local data = ARGV[5]
local at = 1
for _ = 1, #data / 12 do
  local s, loc, value
  s, loc, value, at = struct.unpack('<i4i4i4', data, at)
  local key = KEYS[3 + s]
  redis.call('HSETNX', key, 4 * loc, 0)
  if value >= 0 then
    redis.call('HSET', key, 4 * loc + 2, value)
  else
    redis.call('HDEL', key, 4 * loc + 2)
  end
end
local seq = seq0 + 1
redis.call('HSET', KEYS[1], 'seq', seq)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], string.format('%d-0', seq), 'k', 's',
  'p', string.format('%d', seq0), 'g', ARGV[1], 'u', ARGV[4], 'r', data)
return {0, ARGV[1], seq0, seq}
