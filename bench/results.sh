# results.sh: result bookkeeping shared by the benchmark scripts (sourced by
# bench/run.sh, kafka.sh and meta.sh). Results live in the caller's
# associative array R, keyed "STAGE.KEY"; "-" stands for a missing value.
# Not for: starting or stopping processes (proc.sh).

# parse STAGE LINE: "kind k=v k=v" -> R[STAGE.k]=v
parse() {
	local tok
	for tok in $2; do [[ "$tok" == *=* ]] && R[$1.${tok%%=*}]=${tok#*=}; done
}

# get STAGE KEY: a result or "-" when missing.
get() { echo "${R[$1.$2]:--}"; }

# cpu_ticks PID: user+system clock ticks of PID so far (0 when gone).
cpu_ticks() {
	local stat f
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
	read -ra f <<<"${stat##*) }" # fields after "pid (comm) "; utime/stime: 12th/13th
	echo $((f[11] + f[12]))
}

# verdict EXPR A [B [C]]: MET when the awk expression EXPR holds for a, b, c;
# "n/a" when a value is missing.
verdict() {
	local expr=$1 v
	shift
	for v in "$@"; do [ -z "$v" ] || [ "$v" = - ] && { echo "n/a"; return; }; done
	awk -v a="$1" -v b="${2:-0}" -v c="${3:-0}" "BEGIN { exit !($expr) }" && echo MET ||
		echo "NOT MET"
}

# pressure: the load on this shared machine right now.
pressure() {
	local cpu io
	cpu=$(awk '/^some/ {print $3}' /proc/pressure/cpu 2>/dev/null)
	io=$(awk '/^some/ {print $3}' /proc/pressure/io 2>/dev/null)
	echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /) cpu-pressure ${cpu:-n/a} io-pressure ${io:-n/a}"
}

# machine_lines DIR: the machine and the file system DIR is on.
machine_lines() {
	local cpu fs
	cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
	fs=$(df -T "$1" | awk 'NR == 2 {print $2 " on " $1 " (" $7 ")"}')
	echo "machine: nproc=$(nproc) cpu=\"$cpu\" mem=$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) kernel=$(uname -r)"
	echo "bench dir: $work  fs: $fs"
}
