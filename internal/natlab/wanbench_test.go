package natlab

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchWAN measures one file's goodput over a WAN lab: p2plobby send → receive (Go peers, direct WebRTC
// between the hosts, the lobby server on wan-a) beside croc over TCP through its own relay on wan-a, for each
// RTT × loss condition. Data always flows wan-a → wan-b across the impaired path. It only runs with
// P2PLOBBY_BENCH_WAN=1 and the binaries in P2PLOBBY_BIN and CROC_BIN; scripts/bench-wan.sh sets them up and
// documents the other variables. It prints a markdown table to stdout.
func TestBenchWAN(t *testing.T) {
	if os.Getenv("P2PLOBBY_BENCH_WAN") != "1" {
		t.Skip("a benchmark: set P2PLOBBY_BENCH_WAN=1 (scripts/bench-wan.sh)")
	}
	if err := Available(); err != nil {
		t.Skipf("natlab not available: %v", err)
	}
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	p2p, croc := os.Getenv("P2PLOBBY_BIN"), os.Getenv("CROC_BIN")
	size, _ := strconv.ParseInt(env("SIZE_BYTES", strconv.Itoa(64<<20)), 10, 64)
	runs, _ := strconv.Atoi(env("RUNS", "3"))
	rate, _ := strconv.ParseInt(env("RATE_BYTES", "0"), 10, 64)
	timeout, _ := time.ParseDuration(env("RUN_TIMEOUT", "240s"))
	tools := strings.Fields(env("TOOLS", "p2plobby croc"))
	// The browser pairs (go-chromium, chromium-chromium) run in the e2e test binary (TestBenchWANBrowser), with a
	// file of their own size: Chromium's data channels are several times slower than Go's.
	e2eBin := os.Getenv("P2PLOBBY_E2E_BIN")
	browserSize, _ := strconv.ParseInt(env("BROWSER_SIZE_BYTES", strconv.FormatInt(size, 10)), 10, 64)
	for _, tool := range tools {
		if browserTool(tool) && e2eBin == "" {
			t.Fatalf("TOOLS has %s: set P2PLOBBY_E2E_BIN to the e2e test binary (go test -c ./e2e; scripts/bench-wan.sh does)", tool)
		}
	}
	var conds []WANConfig
	for _, c := range strings.Fields(env("CONDITIONS", "20ms/0 20ms/0.01 80ms/0 80ms/0.01")) {
		rttS, lossS, _ := strings.Cut(c, "/")
		rtt, err1 := time.ParseDuration(rttS)
		loss, err2 := strconv.ParseFloat(lossS, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad condition %q: want RTT/LOSS, e.g. 80ms/0.01", c)
		}
		conds = append(conds, WANConfig{RTT: rtt, Loss: loss, Rate: rate})
	}

	dir := t.TempDir()
	files := map[int64]wanFile{}
	for _, n := range []int64{size, browserSize} {
		if _, ok := files[n]; ok {
			continue
		}
		wf := wanFile{path: filepath.Join(dir, fmt.Sprintf("file-%d.bin", n)), size: n}
		f, err := os.Create(wf.path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
			t.Fatal(err)
		}
		f.Close()
		wf.sum = h.Sum(nil)
		files[n] = wf
	}

	type key struct {
		cond int
		tool string
	}
	results := map[key][]float64{} // MB/s per successful run
	rss := map[key][]float64{}     // the larger peak RSS of sender and receiver, MiB
	failed := map[key]int{}
	started := time.Now().UTC()
	for ci, cond := range conds {
		for run := 1; run <= runs; run++ {
			order := slices.Clone(tools)
			if run%2 == 0 {
				slices.Reverse(order)
			}
			for _, tool := range order {
				cond.Seed = uint64(run)
				k := key{ci, tool}
				wf := files[size]
				if browserTool(tool) {
					wf = files[browserSize]
				}
				mbps, peak, err := benchWANRun(t, cond, tool, p2p, croc, e2eBin, wf, timeout)
				if err != nil {
					failed[k]++
					t.Logf("%v %.0f%% loss, %s, run %d: FAILED: %v", cond.RTT, cond.Loss*100, tool, run, err)
					continue
				}
				results[k] = append(results[k], mbps)
				if peak > 0 { // not measured for the browser pairs
					rss[k] = append(rss[k], peak)
				}
				t.Logf("%v %.0f%% loss, %s, run %d: %.2f MB/s, peak RSS %.0f MiB", cond.RTT, cond.Loss*100, tool, run, mbps, peak)
			}
		}
	}

	cell := func(v []float64) string {
		if len(v) == 0 {
			return "–"
		}
		v = slices.Sorted(slices.Values(v))
		m := v[len(v)/2]
		if len(v)%2 == 0 {
			m = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return fmt.Sprintf("%.2f (%.2f–%.2f)", m, v[0], v[len(v)-1])
	}
	median := func(v []float64) float64 {
		v = slices.Sorted(slices.Values(v))
		if len(v) == 0 {
			return 0
		}
		if len(v)%2 == 0 {
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return v[len(v)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Files over a WAN-like path (natlab.NewWAN)\n\n")
	fmt.Fprintf(&b, "- date: %s; %d runs per tool and condition, alternating; median (min–max); MB/s = 10^6 bytes/s\n",
		started.Format("2006-01-02 15:04 UTC"), runs)
	fmt.Fprintf(&b, "- file: %d random bytes, SHA-256 checked; data wan-a → wan-b; loss in each direction; bottleneck %s\n",
		size, map[bool]string{true: "none", false: fmt.Sprintf("%.0f Mbit/s with a BDP queue", float64(rate)*8/1e6)}[rate == 0])
	if slices.ContainsFunc(tools, browserTool) {
		fmt.Fprintf(&b, "- browser pairs (headless Chromium, the app with OPFS; clock to the receiving page's done): a file of %d bytes\n", browserSize)
	}
	fmt.Fprintf(&b, "- tools: %s\n\n", toolNames(tools))
	// Columns: MB/s of each tool, each one's ratio to croc (medians), peak RSS of the Go and croc runs, failures.
	var cols []string
	for _, tool := range tools {
		cols = append(cols, tool+" MB/s")
	}
	hasCroc := slices.Contains(tools, "croc")
	if hasCroc {
		for _, tool := range tools {
			if tool != "croc" {
				cols = append(cols, tool+" / croc")
			}
		}
	}
	var rssTools []string
	for _, tool := range tools {
		if !browserTool(tool) {
			rssTools = append(rssTools, tool)
			cols = append(cols, tool+" peak RSS MiB")
		}
	}
	cols = append(cols, "failed runs ("+strings.Join(tools, " / ")+")")
	fmt.Fprintf(&b, "| condition | %s |\n|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for ci, c := range conds {
		var row, fails []string
		for _, tool := range tools {
			row = append(row, cell(results[key{ci, tool}]))
			fails = append(fails, strconv.Itoa(failed[key{ci, tool}]))
		}
		if hasCroc {
			r := results[key{ci, "croc"}]
			for _, tool := range tools {
				if tool == "croc" {
					continue
				}
				ratio := "–"
				if p := results[key{ci, tool}]; len(p) > 0 && len(r) > 0 {
					ratio = fmt.Sprintf("%.2f", median(p)/median(r))
				}
				row = append(row, ratio)
			}
		}
		for _, tool := range rssTools {
			row = append(row, cell(rss[key{ci, tool}]))
		}
		row = append(row, strings.Join(fails, " / "))
		fmt.Fprintf(&b, "| %v RTT, %g%% loss | %s |\n", c.RTT, c.Loss*100, strings.Join(row, " | "))
	}
	fmt.Print(b.String())
}

// wanFile is the random file of a run.
type wanFile struct {
	path string
	size int64
	sum  []byte // SHA-256
}

// browserTool reports whether tool is a browser pair, run by the e2e test binary (e2e TestBenchWANBrowser).
func browserTool(tool string) bool { return tool == "go-chromium" || tool == "chromium-chromium" }

func toolNames(tools []string) string {
	names := map[string]string{"p2plobby": "p2plobby (Go → Go: CLI send → receive)", "croc": "croc v10 (TCP, relay on wan-a)",
		"go-chromium": "go-chromium (CLI send → the app)", "chromium-chromium": "chromium-chromium (the app → the app)"}
	var out []string
	for _, tool := range tools {
		out = append(out, cmp.Or(names[tool], tool))
	}
	return strings.Join(out, ", ")
}

// benchWANRun runs one transfer in a fresh lab and returns its goodput (sender start → receiver exit) and
// the larger peak RSS of the two sides (0 for the browser pairs).
func benchWANRun(t *testing.T, cond WANConfig, tool, p2p, croc, e2eBin string, wf wanFile, timeout time.Duration) (mbps, peakMiB float64, err error) {
	var res struct {
		mbps, peak float64
		err        error
	}
	t.Run(fmt.Sprintf("%s-%v-%g-%d", tool, cond.RTT, cond.Loss, cond.Seed), func(t *testing.T) {
		if browserTool(tool) {
			res.mbps, res.err = benchWANBrowser(t, cond, tool, p2p, e2eBin, wf, timeout)
			return
		}
		res.mbps, res.peak, res.err = benchWANOnce(t, cond, tool, p2p, croc, wf.path, wf.size, wf.sum, timeout)
	})
	return res.mbps, res.peak, res.err
}

// benchWANBrowser runs one browser pair's transfer in a fresh lab: the lobby server on wan-a as for p2plobby,
// and the e2e test binary's TestBenchWANBrowser in the test's own namespace, which starts each Chromium inside
// its host's namespace, times the transfer and prints a WANRESULT line.
func benchWANBrowser(t *testing.T, cond WANConfig, tool, p2p, e2eBin string, wf wanFile, timeout time.Duration) (float64, error) {
	lab, link := NewWAN(t, cond)
	a, b := lab.Server, lab.Host("wan-b")
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second) // + browser starts
	defer cancel()
	// Chromium offers only the address of the interface with the default route (it asks the kernel which one
	// reaches a public address); without a route it offers none, and two browsers never connect. What the route
	// sends elsewhere reaches the other host, which drops it.
	for _, h := range []*Host{a, b} {
		if out, err := h.Command("ip", "route", "add", "default", "dev", "wan0").CombinedOutput(); err != nil {
			t.Fatalf("default route in %s: %v %s", h, err, out)
		}
	}
	var srvLog bytes.Buffer
	srv := a.CommandContext(ctx, p2p, "serve", "--addr", ServerIP+":3501", "--turn=false", "--log-level", "warn")
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatalf("server: %v", err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	if err := waitTCP(ctx, a, ServerIP+":3501"); err != nil {
		return 0, err
	}
	job, _ := json.Marshal(map[string]any{"tool": tool, "server": "http://" + ServerIP + ":3501", "sender_ns": a.NS,
		"receiver_ns": b.NS, "p2plobby": p2p, "file": wf.path, "sha256": hex.EncodeToString(wf.sum), "size": wf.size,
		"timeout": timeout.String()})
	cmd := exec.CommandContext(ctx, e2eBin, "-test.run=^TestBenchWANBrowser$", "-test.v", "-test.count=1",
		"-test.timeout="+(timeout+time.Minute).String())
	cmd.Env = append(os.Environ(), "P2PLOBBY_BENCH_WAN=1", "P2PLOBBY_WAN_BROWSER="+string(job))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	if testing.Verbose() {
		ab, ba := link.Stats()
		// The receiving browser's UDP drops (RcvbufErrors: its socket's buffer was full) are not in the Link's stats.
		snmp, _ := b.Command("grep", "^Udp:", "/proc/net/snmp").Output()
		var udp []string
		if l := strings.Split(strings.TrimSpace(string(snmp)), "\n"); len(l) == 2 {
			names, vals := strings.Fields(l[0]), strings.Fields(l[1])
			for i := 1; i < min(len(names), len(vals)); i++ {
				udp = append(udp, names[i]+"="+vals[i])
			}
		}
		t.Logf("link a→b %+v, b→a %+v; wan-b UDP %s", ab, ba, strings.Join(udp, " "))
	}
	var r struct {
		MBps     float64 `json:"mbps"`
		PageMBps float64 `json:"page_mbps"`
		Storage  string  `json:"storage"`
		Error    string  `json:"error"`
	}
	found := false
	for line := range strings.Lines(out.String()) {
		if js, ok := strings.CutPrefix(strings.TrimSpace(line), "WANRESULT "); ok {
			found = json.Unmarshal([]byte(js), &r) == nil
		}
	}
	if !found || r.Error != "" || runErr != nil || r.MBps <= 0 {
		t.Logf("e2e TestBenchWANBrowser:\n%s\nserver:\n%s", tail(out.String(), 4000), tail(srvLog.String(), 1500))
		return 0, fmt.Errorf("%s: %v, %s (result found: %v)", tool, runErr, r.Error, found)
	}
	t.Logf("%s: the page's own rate %.2f MB/s, stored in %s", tool, r.PageMBps, r.Storage)
	return r.MBps, nil
}

func benchWANOnce(t *testing.T, cond WANConfig, tool, p2p, croc, file string, size int64, want []byte, timeout time.Duration) (float64, float64, error) {
	lab, link := NewWAN(t, cond)
	a, b := lab.Server, lab.Host("wan-b")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return 0, 0, err
	}
	logs := map[string]*bytes.Buffer{}
	start := func(h *Host, name string, env []string, prog string, args ...string) *exec.Cmd {
		cmd := h.CommandContext(ctx, prog, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Dir = dir
		buf := &bytes.Buffer{}
		logs[name] = buf
		cmd.Stdout, cmd.Stderr = buf, buf
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return cmd
	}
	fail := func(err error) (float64, float64, error) {
		for name, l := range logs {
			t.Logf("%s:\n%s", name, tail(l.String(), 1500))
		}
		return 0, 0, err
	}
	var rx, tx *exec.Cmd
	var t0 time.Time
	switch tool {
	case "p2plobby":
		srv := start(a, "server", nil, p2p, "serve", "--addr", ServerIP+":3501", "--turn=false", "--log-level", "warn")
		defer func() { srv.Process.Kill(); srv.Wait() }()
		if err := waitTCP(ctx, a, ServerIP+":3501"); err != nil {
			return fail(err)
		}
		url := "ws://" + ServerIP + ":3501"
		rx = start(b, "rx", nil, p2p, "receive", "--server", url, "--room", "bench", "--name", "rx", "--dir", out, "--once", "--max-size", "0")
		time.Sleep(time.Second) // to join the room, outside the clock
		t0 = time.Now()
		args := []string{"send", "--server", url, "--room", "bench", "--name", "tx", "--to", "rx"}
		if os.Getenv("P2PLOBBY_BENCH_VERBOSE") == "1" { // pion's debug log, to count retransmission timeouts
			args = append(args, "--verbose")
		}
		tx = start(a, "tx", nil, p2p, append(args, file)...)
	case "croc":
		cfg := filepath.Join(dir, "croc-config")
		os.Mkdir(cfg, 0o700)
		relay := start(a, "relay", []string{"CROC_CONFIG_DIR=" + cfg}, croc, "relay", "--host", ServerIP, "--ports", "3511,3512,3513,3514,3515")
		defer func() { relay.Process.Kill(); relay.Wait() }()
		if err := waitTCP(ctx, a, ServerIP+":3511"); err != nil {
			return fail(err)
		}
		env := []string{"CROC_SECRET=bench-" + strconv.FormatInt(time.Now().UnixNano(), 36), "CROC_CONFIG_DIR=" + cfg}
		opts := []string{"--relay", ServerIP + ":3511", "--disable-clipboard"}
		t0 = time.Now()
		tx = start(a, "tx", env, croc, append(opts, "send", "--no-local", file)...)
		// croc's receiver must reach the relay after the sender (see scripts/bench-files.sh).
		for !strings.Contains(logs["tx"].String(), "Code is") || !established(a, "3511") {
			if ctx.Err() != nil {
				return fail(fmt.Errorf("croc sender never reached the relay"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		rx = start(b, "rx", env, croc, append(opts, "--yes", "--overwrite", "--out", out)...)
	default:
		t.Fatalf("unknown tool %q", tool)
	}
	rxErr := rx.Wait()
	secs := time.Since(t0).Seconds()
	txErr := tx.Wait()
	if testing.Verbose() {
		ab, ba := link.Stats()
		// Packets the kernel dropped before the forwarder read them (TUN queue full) are not in the Link's stats.
		qa, _ := a.Command("cat", "/sys/class/net/wan0/statistics/tx_dropped").Output()
		t.Logf("link a→b %+v, b→a %+v; wan-a TUN tx_dropped %s; sender's T3-rtx timeouts logged: %d", ab, ba,
			bytes.TrimSpace(qa), strings.Count(logs["tx"].String(), "T3-rtx timed out"))
		for l := range strings.Lines(logs["tx"].String()) {
			if i := strings.Index(l, `msg="send window"`); i >= 0 { // the p2plobby sender's window at the end
				t.Logf("sender: %s", strings.TrimSpace(l[i:]))
			}
		}
	}
	if rxErr != nil || txErr != nil {
		return fail(fmt.Errorf("receiver: %v, sender: %v", rxErr, txErr))
	}
	got, err := os.Open(filepath.Join(out, filepath.Base(file)))
	if err != nil {
		return fail(err)
	}
	defer got.Close()
	h := sha256.New()
	io.Copy(h, got)
	if !bytes.Equal(h.Sum(nil), want) {
		return fail(fmt.Errorf("SHA-256 mismatch"))
	}
	peak := 0.0
	for _, c := range []*exec.Cmd{rx, tx} {
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, float64(ru.Maxrss)/1024)
		}
	}
	return float64(size) / 1e6 / secs, peak, nil
}

func waitTCP(ctx context.Context, h *Host, addr string) error {
	for ctx.Err() == nil {
		if h.CommandContext(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+strings.Replace(addr, ":", "/", 1)).Run() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

func established(h *Host, port string) bool {
	out, _ := h.Command("ss", "-Htn", "state", "established", "( dport = :"+port+" )").Output()
	return len(bytes.TrimSpace(out)) > 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
