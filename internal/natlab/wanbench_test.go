package natlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
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
	file := filepath.Join(dir, "file.bin")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := h.Sum(nil)

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
				mbps, peak, err := benchWANRun(t, cond, tool, p2p, croc, file, size, want, timeout)
				if err != nil {
					failed[k]++
					t.Logf("%v %.0f%% loss, %s, run %d: FAILED: %v", cond.RTT, cond.Loss*100, tool, run, err)
					continue
				}
				results[k] = append(results[k], mbps)
				rss[k] = append(rss[k], peak)
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
	fmt.Fprintf(&b, "- file: %d random bytes, SHA-256 checked; data wan-a → wan-b; loss in each direction; bottleneck %s\n\n",
		size, map[bool]string{true: "none", false: fmt.Sprintf("%.0f Mbit/s with a BDP queue", float64(rate)*8/1e6)}[rate == 0])
	fmt.Fprintf(&b, "| condition | p2plobby MB/s | croc MB/s | ratio (medians) | p2plobby peak RSS MiB | croc peak RSS MiB | failed runs |\n|---|---|---|---|---|---|---|\n")
	for ci, c := range conds {
		p, r := results[key{ci, "p2plobby"}], results[key{ci, "croc"}]
		ratio := "–"
		if len(p) > 0 && len(r) > 0 {
			ratio = fmt.Sprintf("%.2f", median(p)/median(r))
		}
		fmt.Fprintf(&b, "| %v RTT, %g%% loss | %s | %s | %s | %s | %s | %d / %d |\n", c.RTT, c.Loss*100, cell(p), cell(r), ratio,
			cell(rss[key{ci, "p2plobby"}]), cell(rss[key{ci, "croc"}]), failed[key{ci, "p2plobby"}], failed[key{ci, "croc"}])
	}
	fmt.Print(b.String())
}

// benchWANRun runs one transfer in a fresh lab and returns its goodput (sender start → receiver exit) and
// the larger peak RSS of the two sides.
func benchWANRun(t *testing.T, cond WANConfig, tool, p2p, croc, file string, size int64, want []byte, timeout time.Duration) (mbps, peakMiB float64, err error) {
	var res struct {
		mbps, peak float64
		err        error
	}
	t.Run(fmt.Sprintf("%s-%v-%g-%d", tool, cond.RTT, cond.Loss, cond.Seed), func(t *testing.T) {
		res.mbps, res.peak, res.err = benchWANOnce(t, cond, tool, p2p, croc, file, size, want, timeout)
	})
	return res.mbps, res.peak, res.err
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
