package peer

import (
	"testing"
	"time"
)

// feed runs a window over a path that delivers rate bytes/s with the given RTT, sampling every step, for d,
// and returns the last window.
func feed(w *sendWindow, t0 time.Time, delivered uint64, rate float64, rtt, step, d time.Duration) (int, time.Time, uint64) {
	win := 0
	for el := time.Duration(0); el < d; el += step {
		t0 = t0.Add(step)
		delivered += uint64(rate * step.Seconds())
		win = w.update(t0, delivered, rtt)
	}
	return win, t0, delivered
}

func TestSendWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t.Run("starts at the floor", func(t *testing.T) {
		w := newSendWindow()
		if got := w.update(t0, 0, 0); got != minSendWindow {
			t.Fatalf("first window %d, want %d", got, minSendWindow)
		}
		// No RTT yet: no rate sample, whatever was delivered.
		if got := w.update(t0.Add(time.Second), 50<<20, 0); got != minSendWindow {
			t.Fatalf("window without an RTT %d, want %d", got, minSendWindow)
		}
	})
	t.Run("twice the bandwidth-delay product, not less after loss", func(t *testing.T) {
		w := newSendWindow()
		w.update(t0, 0, 0)
		// 20 MB/s at 80 ms: BDP 1.6 MB, window 3.2 MB.
		win, now, d := feed(w, t0, 0, 20e6, 80*time.Millisecond, 10*time.Millisecond, 2*time.Second)
		if want := int(2 * 20e6 * 0.080); win < want*95/100 || win > want*105/100 {
			t.Fatalf("window %d, want about %d", win, want)
		}
		// A loss that holds delivery back for a round trip or two does not shrink it: the maximum of the
		// recent samples still holds the path's rate.
		slow, now, d := feed(w, now, d, 1e6, 80*time.Millisecond, 10*time.Millisecond, 160*time.Millisecond)
		if slow != win {
			t.Fatalf("window after two slow round trips %d, want %d", slow, win)
		}
		// A path that stays slower for longer than the samples cover gets a smaller window.
		later, _, _ := feed(w, now, d, 1e6, 80*time.Millisecond, 10*time.Millisecond, 2*time.Second)
		if later != minSendWindow {
			t.Fatalf("window after 2 s at 1 MB/s %d, want the floor %d (2 × 1 MB/s × 80 ms is below it)", later, minSendWindow)
		}
	})
	t.Run("the lowest RTT seen, not the queue's", func(t *testing.T) {
		w := newSendWindow()
		w.update(t0, 0, 0)
		win, now, d := feed(w, t0, 0, 10e6, 80*time.Millisecond, 10*time.Millisecond, time.Second)
		// The RTT grows as a queue builds; the window follows the rate, not the longer RTT.
		win2, _, _ := feed(w, now, d, 10e6, 200*time.Millisecond, 10*time.Millisecond, time.Second)
		if win2 > win*105/100 {
			t.Fatalf("window grew from %d to %d with the RTT at the same rate", win, win2)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		w := newSendWindow()
		w.update(t0, 0, 0)
		if win, _, _ := feed(w, t0, 0, 1e9, 300*time.Millisecond, 10*time.Millisecond, 3*time.Second); win != maxSendWindow {
			t.Fatalf("window at 1 GB/s and 300 ms %d, want the ceiling %d", win, maxSendWindow)
		}
		// Loopback: an RTT under minRateSample counts as minRateSample.
		w = newSendWindow()
		w.update(t0, 0, 0)
		win, _, _ := feed(w, t0, 0, 50e6, 200*time.Microsecond, time.Millisecond, time.Second)
		if want := int(2 * 50e6 * minRateSample.Seconds()); win < want*95/100 || win > want*105/100 {
			t.Fatalf("window at 50 MB/s and 0.2 ms %d, want about %d", win, want)
		}
	})
	t.Run("a restart of the count starts a new sample", func(t *testing.T) {
		w := newSendWindow()
		w.update(t0, 1000, 80*time.Millisecond)
		if got := w.update(t0.Add(time.Second), 10, 80*time.Millisecond); got != minSendWindow {
			t.Fatalf("window after delivered went back %d, want %d", got, minSendWindow)
		}
	})
}

func TestSendWindowPacing(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newSendWindow()
	w.update(t0, 0, 0)
	for i := range 100 { // nothing measured: no pacing
		if d := w.wait(t0, 64<<10); d != 0 {
			t.Fatalf("write %d before any measurement waits %v", i, d)
		}
	}
	// A rate that doubles every round trip: still starting up, paced at startupGain.
	now, d, rate := t0, uint64(0), 1e6
	for range 5 {
		_, now, d = feed(w, now, d, rate, 80*time.Millisecond, 10*time.Millisecond, 80*time.Millisecond)
		rate *= 2
	}
	if w.full {
		t.Fatalf("path taken as full while the rate doubled every round trip (best %.0f)", w.best)
	}
	if d := w.wait(now, 64<<10); d != 0 {
		t.Fatalf("first paced write waits %v", d)
	}
	if got, want := w.wait(now, 64<<10), time.Duration(float64(64<<10)/(startupGain*w.best)*float64(time.Second)); got != want {
		t.Fatalf("write in startup waits %v, want %v", got, want)
	}
	// The same rate for a second: the path is full, paced at pacingGain.
	_, now, _ = feed(w, now, d, 10e6, 80*time.Millisecond, 10*time.Millisecond, time.Second)
	if !w.full {
		t.Fatal("path not taken as full after a second at one rate")
	}
	now = now.Add(time.Second)
	if d := w.wait(now, 64<<10); d != 0 {
		t.Fatalf("first write after a pause waits %v", d)
	}
	// 64 KiB at 1.25 × the best recent rate.
	want := time.Duration(float64(64<<10) / (pacingGain * w.best) * float64(time.Second))
	if d := w.wait(now, 64<<10); d != want {
		t.Fatalf("second write waits %v, want %v", d, want)
	}
	if d := w.wait(now.Add(want), 64<<10); d != 0 {
		t.Fatalf("write after the wait waits %v more", d)
	}
	// A writer that was away for a second does not get a second's worth at once.
	later := now.Add(time.Second)
	if d := w.wait(later, 64<<10); d != 0 {
		t.Fatalf("write after a pause waits %v", d)
	}
	if d := w.wait(later, 64<<10); d != want {
		t.Fatalf("second write after a pause waits %v, want %v", d, want)
	}
}
