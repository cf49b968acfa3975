--[[ Channel ring-fences of SKUs of ONE partition. Quantity 0 removes a fence; consumed -1 keeps what
the channel consumed so far, capped at the new quantity. The client has validated every entry.
KEYS  1 partition meta, 2 change stream, then the counters hash of each SKU of ARGV[4], in that order
ARGV  1 generation expected, 2 stream MAXLEN, 3 number of SKUs, 4 the SKU ids joined by spaces,
      5 rows, packed '<i4i4i4i4' (sku 0-based, channel, quantity, consumed or -1)
Reply {0, gen, seq before, seq after, rows as applied (consumed resolved)} or {-1, live generation}. ]]

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq')
if meta[1] ~= ARGV[1] then
  return {-1, meta[1] or ''}
end
local seq0 = tonumber(meta[2]) or 0
local data = ARGV[5]
local out = {}
local at = 1
for i = 1, #data / 16 do
  local s, ch, qty, consumed
  s, ch, qty, consumed, at = struct.unpack('<i4i4i4i4', data, at)
  local key = KEYS[3 + s]
  local fq, fu = -2 - 2 * ch, -3 - 2 * ch
  local used = 0
  if qty == 0 then
    redis.call('HDEL', key, fq, fu)
  else
    if consumed >= 0 then
      used = consumed
    else
      used = math.min(tonumber(redis.call('HGET', key, fu)) or 0, qty)
    end
    redis.call('HSET', key, fq, qty, fu, used)
  end
  out[i] = struct.pack('<i4i4i4i4', s, ch, qty, used)
end
local seq = seq0 + 1
local rows = table.concat(out)
redis.call('HSET', KEYS[1], 'seq', seq)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], string.format('%d-0', seq), 'k', 'a',
  'p', string.format('%d', seq0), 'g', ARGV[1], 'u', ARGV[4], 'r', rows)
return {0, ARGV[1], seq0, seq, rows}
