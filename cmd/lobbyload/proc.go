package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// procRSS returns a process's resident memory in bytes (VmRSS in /proc/PID/status; "self" for this process).
func procRSS(pid string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest) // "12345 kB"
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%s/status", pid)
}

// pidsRSS is the summed resident memory of the server processes.
func pidsRSS(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		n, err := procRSS(strconv.Itoa(pid))
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// pidsCPU is the summed CPU time of the server processes, and the part of it spent in the kernel; false if
// there are none or one is unreadable.
func pidsCPU(pids []int) (total, sys time.Duration, ok bool) {
	for _, pid := range pids {
		d, s, err := procCPU(pid)
		if err != nil {
			return 0, 0, false
		}
		total += d
		sys += s
	}
	return total, sys, len(pids) > 0
}

// userHZ is the unit of /proc's CPU times (USER_HZ clock ticks), which is 100 on Linux.
const userHZ = 100

// procCPU returns the CPU time (user+system) a process has used, and its system part, from /proc/PID/stat.
func procCPU(pid int) (total, sys time.Duration, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces; the fields that follow it start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12]
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / userHZ, time.Duration(st) * time.Second / userHZ, nil
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the CPU time all processes have used: the non-idle ticks of /proc/stat's "cpu" line.
func machineBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, false
		}
		if i != 3 && i != 4 { // idle and iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ, true
}

// cpuMeter measures how many cores the tool, the server (with --pid) and everything else used over an interval.
// The tool shares the machine's cores with the server, so the output shows whether the tool, or some other
// busy process, could have limited the result.
type cpuMeter struct {
	pids                  []int
	wall                  time.Time
	self, server, machine time.Duration
	serverSys             time.Duration
	serverOK, machineOK   bool
}

func startCPU(pids []int) *cpuMeter {
	c := &cpuMeter{pids: pids, wall: time.Now(), self: selfCPU()}
	c.server, c.serverSys, c.serverOK = pidsCPU(pids)
	c.machine, c.machineOK = machineBusy()
	return c
}

// stop reports the interval's average cores in use by the tool, the server and all other processes.
func (c *cpuMeter) stop(rep *report) {
	wall := time.Since(c.wall).Seconds()
	if wall <= 0 {
		return
	}
	cores := func(d time.Duration) float64 { return d.Seconds() / wall }
	tool := cores(selfCPU() - c.self)
	rep.set("tool_cpu_cores", round(tool, 2))
	line := fmt.Sprintf("  cpu (average cores in use): tool %.2f", tool)
	server := 0.0
	if c.serverOK {
		if now, sys, ok := pidsCPU(c.pids); ok {
			server = cores(now - c.server)
			rep.set("server_cpu_cores", round(server, 2))
			// The kernel's part: on loopback a write also does the receiver's TCP work, which no server avoids.
			rep.set("server_sys_cores", round(cores(sys-c.serverSys), 2))
			line += fmt.Sprintf(", server %.2f", server)
		}
	}
	if now, ok := machineBusy(); ok && c.machineOK && c.serverOK {
		// Tick rounding makes this slightly noisy; it is only a warning sign.
		other := max(cores(now-c.machine)-tool-server, 0)
		rep.set("other_cpu_cores", round(other, 2))
		line += fmt.Sprintf(", other processes %.2f", other)
	}
	rep.footer = append(rep.footer, fmt.Sprintf("%s, of %d (the tool shares the cores with the server)", line, rep.fields["nproc"]))
	if tool+server > 0.9*float64(runtime.NumCPU()) {
		rep.footer = append(rep.footer, "  note: the cores were saturated; the tool's share limited the server, so server numbers are a lower bound")
	}
	if v, ok := rep.fields["other_cpu_cores"].(float64); ok && v > 0.25 {
		rep.footer = append(rep.footer, "  WARNING: other processes were busy during the measurement; numbers are noisy")
	}
}
