--[[ Read the counters of some SKUs of ONE partition together with the partition's sequence, in one
atomic step, so a rebuilding replica knows exactly which change records each SKU already reflects.
KEYS  1 partition meta, then the counters hash of each SKU
ARGV  1 generation expected
Reply {0, seq, text}: for each SKU in KEYS order, the number of integers of its hash followed by its
integer fields and values, all comma-separated (one numpy parse per call); the journals ('j<loc>',
only needed by counts inside the ledger) are left out. Or {-1, live generation}. ]]

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq')
if meta[1] ~= ARGV[1] then
  return {-1, meta[1] or ''}
end
local parts = {}
for i = 2, #KEYS do
  local all = redis.call('HGETALL', KEYS[i])
  local ints = {}
  for f = 1, #all, 2 do
    if string.byte(all[f], 1) ~= 106 then
      ints[#ints + 1] = all[f]
      ints[#ints + 1] = all[f + 1]
    end
  end
  parts[#parts + 1] = #ints
  if #ints > 0 then parts[#parts + 1] = table.concat(ints, ',') end
end
return {0, tonumber(meta[2]) or 0, table.concat(parts, ',')}
