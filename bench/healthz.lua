-- wrk script for plain GETs: only the report of bench/report.lua.
dofile("bench/report.lua")
