-- wrk script: POST /v1/decide for the five home-page placements, cycling through the
-- demo's shoppers (user-1 … user-5000). Usage:
--   TAILOR_WRITE_KEY=… wrk -t2 -c32 -d10s -s scripts/decide.lua http://127.0.0.1:8080
local key = os.getenv("TAILOR_WRITE_KEY") or ""
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"userId":"user-%d","placements":["home.hero","nav.categories","promo.banner","recs.home","checkout.flow"]}',
    (n % 5000) + 1)
  return wrk.format("POST", "/v1/decide", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
