-- wrk script: POST /v1/decide for the five home-page placements, for the anonymous
-- visitors `tailor bench` creates (anon-0 … anon-99999), with the server key in TAILOR_KEY.
local key = os.getenv("TAILOR_KEY") or ""
local n = 0
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
request = function()
  n = n + 1
  local body = string.format(
    '{"anonymousId":"anon-%d","placements":["home.hero","nav.categories","promo.banner","recs.home","checkout.flow"]}',
    (n * 7919) % 100000)
  return wrk.format("POST", "/v1/decide", headers, body)
end
