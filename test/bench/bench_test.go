package bench

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/vectors"
	"github.com/matrix-onebot/gateway/test/wait"
)

func TestParseStatCPU(t *testing.T) {
	var vec []struct {
		Name  string `json:"name"`
		Stat  string `json:"stat"`
		Ticks uint64 `json:"ticks"`
		Error bool   `json:"error"`
	}
	vectors.ReadFile(t, "proc-stat.json", &vec)
	for _, v := range vec {
		t.Run(v.Name, func(t *testing.T) {
			got, err := ParseStatCPU([]byte(v.Stat))
			switch {
			case v.Error && err == nil:
				t.Fatalf("got %d ticks, want an error", got)
			case !v.Error && err != nil:
				t.Fatal(err)
			case !v.Error && got != v.Ticks:
				t.Fatalf("got %d ticks, want %d", got, v.Ticks)
			}
		})
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1234 (gateway) S 1 1234 1234 0 -1 4194560 1234 0 0 0 150 37 0 0 20 0 12"))
	f.Add([]byte("42 (a) b) R"))
	f.Fuzz(func(t *testing.T, stat []byte) {
		_, _ = ParseStatCPU(stat) // an error or a number, never a panic
	})
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the kernel's 10 ms accounting moves.
	deadline := time.Now().Add(10 * time.Second)
	after := before
	for after <= before && time.Now().Before(deadline) {
		for i := 0; i < 1_000_000; i++ {
			_ = strings.Repeat("x", i%8)
		}
		if after, err = CPUTime(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if after <= before {
		t.Fatalf("CPU time did not grow while burning CPU: %v → %v", before, after)
	}
	if _, err := CPUTime(-1); err == nil {
		t.Fatal("CPUTime of pid -1: want an error")
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := ParseStatusRSS([]byte("Name:\tgateway\nVmPeak:\t  900 kB\nVmRSS:\t   28672 kB\nThreads:\t12\n"))
	if err != nil || got != 28672<<10 {
		t.Fatalf("got %d, %v; want %d", got, err, 28672<<10)
	}
	for _, bad := range []string{"Name:\tzombie\n", "VmRSS:\t 12 MB\n", "VmRSS:\t -3 kB\n", "VmRSS:\t\n"} {
		if n, err := ParseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("%q: got %d, want an error", bad, n)
		}
	}
	if n, err := RSS(os.Getpid()); err != nil || n <= 0 {
		t.Fatalf("RSS of this process: %d, %v", n, err)
	}
}

func TestPercentile(t *testing.T) {
	var d Dist
	if d.Percentile(50) != 0 {
		t.Fatal("empty sample: want 0")
	}
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := d.Percentile(p); got != want {
			t.Errorf("p%g = %v, want %v", p, got, want)
		}
	}
	if d[0] != 100*time.Millisecond {
		t.Fatal("Percentile sorted the caller's sample")
	}
	if got := (Dist{7 * time.Millisecond}).Percentile(99); got != 7*time.Millisecond {
		t.Fatalf("one sample: p99 = %v", got)
	}
}

func TestReportVerdicts(t *testing.T) {
	r := &Report{Started: time.Unix(0, 0), Machine: "test machine"}
	r.Check("under", "ms", 0.5, 1)
	r.Check("over", "ms", 1.5, 1)
	r.CheckAtLeast("rate", "msg/s", 19999, 20000)
	r.Missing("absent", "≤ 5 s", "skipped")
	want := []string{"MET", "NOT MET", "NOT MET", "—"}
	for i, tg := range r.Targets {
		if tg.Verdict() != want[i] {
			t.Errorf("%s: verdict %q, want %q", tg.Name, tg.Verdict(), want[i])
		}
	}
	s := &Section{Title: "t", Header: []string{"a", "b"}}
	s.Add("x", 1.234)
	r.Sections = append(r.Sections, s)
	var b strings.Builder
	r.Render(&b)
	for _, line := range []string{"| x | 1.23 |", "| under | ≤ 1 ms | 0.50 ms | MET |", "| over | ≤ 1 ms | 1.50 ms | NOT MET |", "test machine"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("the report lacks %q:\n%s", line, b.String())
		}
	}
}

func TestCollectorReceivesReports(t *testing.T) {
	c, err := NewCollector()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := NewReporter(c.Addr(), "ws")
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	rep.Report("$a")
	rep.Report("$b")
	rep.Report("$a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if missing := c.WaitAll(ctx, []string{"ws"}, []string{"$a", "$b"}); missing["ws"] != 0 {
		t.Fatalf("missing %v", missing)
	}
	if at, ok := c.At("ws", "$a"); !ok || at.Before(before) {
		t.Fatalf("arrival of $a: %v %v", at, ok)
	}
	if _, ok := c.At("sync", "$a"); ok {
		t.Fatal("another observer's report counted")
	}
	// The repeat of $a is counted once it has been read.
	wait.Until(10*time.Second, func() bool { return c.Duplicates("ws") == 1 })
	if got := c.Duplicates("ws"); got != 1 {
		t.Fatalf("duplicates = %d, want 1", got)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if missing := c.WaitAll(short, []string{"ws"}, []string{"$never"}); missing["ws"] != 1 {
		t.Fatalf("a key never reported: missing %v, want 1", missing)
	}
}

func TestTallyCountsLostAndDuplicated(t *testing.T) {
	raw, err := os.ReadFile("testdata/failover-frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Frames   []json.RawMessage `json:"frames"`
		Bots     []string          `json:"bots"`
		Messages []string          `json:"messages"`
		Want     Loss              `json:"want"`
		Events   int               `json:"events"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	tally := NewTally()
	start := time.Unix(1000, 0)
	events := 0
	for i, f := range v.Frames {
		if tally.Add(f, start.Add(time.Duration(i)*time.Second)) {
			events++
		}
	}
	if events != v.Events {
		t.Errorf("%d frames taken as message events, want %d", events, v.Events)
	}
	if got := tally.Count(v.Bots, v.Messages); got != v.Want {
		t.Errorf("got %+v, want %+v", got, v.Want)
	}
	if tally.Delivered(v.Bots, v.Messages) != (v.Want.Lost == 0) {
		t.Errorf("Delivered disagrees with Lost %d", v.Want.Lost)
	}
	// @a's arrivals are frames 0, 1, 4 and 5 (seconds 1000, 1001, 1004, 1005).
	if at, ok := tally.FirstAfter("@a:localhost", start.Add(2*time.Second)); !ok || !at.Equal(start.Add(4*time.Second)) {
		t.Errorf("FirstAfter(@a, +2s) = %v %v, want +4s", at, ok)
	}
	if _, ok := tally.FirstAfter("@a:localhost", start.Add(time.Hour)); ok {
		t.Error("FirstAfter(@a, +1h) found an event")
	}
}

func FuzzTallyAdd(f *testing.F) {
	f.Add([]byte(`{"type":"message","message_id":"$1","self":{"platform":"matrix","user_id":"@a:x"},"matrix.replayed":true}`))
	f.Add([]byte(`{"type":"message","self":null}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		tally := NewTally()
		ok := tally.Add(frame, time.Unix(1, 0))
		var m v12Message
		if ok && (json.Unmarshal(frame, &m) != nil || m.Type != "message" || m.MessageID == "" || m.Self.UserID == "") {
			t.Fatalf("took %q as a message event", frame)
		}
		if ok {
			if l := tally.Count([]string{m.Self.UserID}, []string{m.MessageID}); l.Lost != 0 || l.Expected != 1 {
				t.Fatalf("the event taken is not counted: %+v", l)
			}
		}
	})
}
