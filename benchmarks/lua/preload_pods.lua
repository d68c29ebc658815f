-- POSTs BODIES[1..#BODIES] once each (run with -t1), then writes DONE_FILE and stops;
-- wrk itself runs until its -d, so api_load.py waits for DONE_FILE and interrupts it.
-- api_load.py defines CREATE_PATH, DONE_FILE and BODIES (pod JSON strings) above this.
local next_index = 0
local answered, created = 0, 0
local headers = { ["Content-Type"] = "application/json" }

request = function()
  next_index = next_index + 1
  if next_index <= #BODIES then
    return wrk.format("POST", CREATE_PATH, headers, BODIES[next_index])
  end
  return wrk.format("GET", "/readyz")  -- fillers until the stop lands
end

response = function(status, hdrs, body)
  answered = answered + 1
  if status == 201 or status == 200 then
    created = created + 1
  end
  if answered == #BODIES then
    local f = io.open(DONE_FILE, "w")
    f:write(tostring(created))
    f:close()
    wrk.thread:stop()
  end
end
