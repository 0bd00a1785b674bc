package bench

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// arrivals builds send times and arrivals for n messages: message i sent at i×50 ms, reaching
// the plain client after plainLat(i) and the gateway's client after gwLat(i); a negative latency
// means the message never arrived there.
func arrivals(n int, plainLat, gwLat func(i int) time.Duration) (sent, gw, plain map[string]time.Time) {
	sent, gw, plain = map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	for i := range n {
		k := fmt.Sprintf("$e%d", i)
		at := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		sent[k] = at
		if d := plainLat(i); d >= 0 {
			plain[k] = at.Add(d)
		}
		if d := gwLat(i); d >= 0 {
			gw[k] = at.Add(d)
		}
	}
	return sent, gw, plain
}

func TestAheadShareAndOrder(t *testing.T) {
	// The gateway's client ahead for 3 of the 4 messages both received; "x" only at the gateway
	// and "y" only at the plain client are not compared; a tie is not ahead.
	gw := map[string]time.Time{"a": t0, "b": t0, "c": t0, "d": t0.Add(ms(2)), "x": t0}
	plain := map[string]time.Time{"a": t0.Add(ms(1)), "b": t0.Add(ms(3)), "c": t0.Add(1), "d": t0, "y": t0}
	share, n := AheadShare(gw, plain)
	if n != 4 || share != 0.75 {
		t.Fatalf("AheadShare = %v of %d, want 0.75 of 4", share, n)
	}
	plain["c"] = t0 // now a tie: 2 of 4
	if share, n = AheadShare(gw, plain); n != 4 || share != 0.5 {
		t.Fatalf("with a tie: AheadShare = %v of %d, want 0.5 of 4", share, n)
	}
	if share, n = AheadShare(gw, map[string]time.Time{}); n != 0 || share != 0 {
		t.Fatalf("nothing in common: %v of %d", share, n)
	}
	for _, c := range []struct {
		share float64
		n     int
		want  WakeOrder
	}{{0.75, 4, GatewayFirst}, {0.51, 100, GatewayFirst}, {0.25, 4, PlainFirst}, {0.49, 100, PlainFirst}, {0, 10, PlainFirst}, {1, 10, GatewayFirst}, {0.5, 4, OrderUnclear}, {0, 0, OrderUnclear}} {
		if got := OrderOf(c.share, c.n); got != c.want {
			t.Errorf("OrderOf(%v, %d) = %v, want %v", c.share, c.n, got, c.want)
		}
	}
}

func TestCompareRepetition(t *testing.T) {
	// Plain: 30 ms + i%10 ms. Gateway: 3 ms after plain for every message but the last two,
	// which it is 1 ms ahead for; message 5 never reaches the gateway, message 7 never reaches
	// plain (so the latencies are over different sets, the per-message lag over 98).
	plainLat := func(i int) time.Duration {
		if i == 7 {
			return -1
		}
		return ms(30) + ms(float64(i%10))
	}
	gwLat := func(i int) time.Duration {
		switch {
		case i == 5:
			return -1
		case i >= 98:
			return ms(30) + ms(float64(i%10)) - ms(1)
		}
		return ms(30) + ms(float64(i%10)) + ms(3)
	}
	sent, gw, plain := arrivals(100, plainLat, gwLat)
	r := CompareRepetition("bob2", sent, gw, plain)
	if r.Plain != "bob2" || r.Sent != 100 || r.GW != 99 || r.Got != 99 || r.Compared != 98 {
		t.Fatalf("counts: %+v", r)
	}
	if want := 2.0 / 98; r.Share != want || r.Order != PlainFirst {
		t.Fatalf("share %v order %v, want %v plain first", r.Share, r.Order, want)
	}
	if r.Behind50 != ms(3) || r.Behind99 != ms(3) {
		t.Fatalf("behind p50 %v p99 %v, want 3 ms both", r.Behind50, r.Behind99)
	}
	// The percentiles come from each client's own latencies, as in table (a).
	var lg, lp Dist
	for k, s := range sent {
		if g, ok := gw[k]; ok {
			lg = append(lg, g.Sub(s))
		}
		if p, ok := plain[k]; ok {
			lp = append(lp, p.Sub(s))
		}
	}
	if r.P50 != lg.Percentile(50)-lp.Percentile(50) || r.P99 != lg.Percentile(99)-lp.Percentile(99) {
		t.Fatalf("p50 %v p99 %v, want %v %v", r.P50, r.P99, lg.Percentile(50)-lp.Percentile(50), lg.Percentile(99)-lp.Percentile(99))
	}
	if r.P50 <= 0 {
		t.Fatalf("the gateway behind by 3 ms: p50 difference %v should be positive", r.P50)
	}

	// Mirror: the gateway ahead by 2 ms throughout.
	sent, gw, plain = arrivals(50, func(i int) time.Duration { return ms(40) }, func(i int) time.Duration { return ms(38) })
	r = CompareRepetition("bob3", sent, gw, plain)
	if r.Order != GatewayFirst || r.Share != 1 || r.P50 != -ms(2) || r.P99 != -ms(2) || r.Behind50 != -ms(2) {
		t.Fatalf("gateway ahead: %+v", r)
	}
}

func TestOrderAveraged(t *testing.T) {
	rep := func(o WakeOrder, p50, p99 float64) Repetition {
		return Repetition{Order: o, P50: ms(p50), P99: ms(p99)}
	}
	// Only one order: no number, however many repetitions.
	one := []Repetition{rep(PlainFirst, 4, 6), rep(PlainFirst, 3, 5), rep(OrderUnclear, 0, 0)}
	if _, _, ok := OrderAveraged(one); ok || BothOrders(one) {
		t.Fatal("one order only must not give an average")
	}
	if _, _, ok := OrderAveraged(nil); ok {
		t.Fatal("no repetitions must not give an average")
	}
	// ½(mean of gateway-first + mean of plain-first), not the mean of all repetitions:
	// gateway first −2 (p50), −1 (p99); plain first mean (4+3+5)/3 = 4, (6+5+7)/3 = 6 → 1, 2.5.
	// The plain mean of all five would be 1.6 and 3.4; the unclear one (100 ms) is left out.
	reps := append(one, rep(GatewayFirst, -2, -1), rep(PlainFirst, 5, 7), rep(OrderUnclear, 100, 100))
	p50, p99, ok := OrderAveraged(reps)
	if !ok || !BothOrders(reps) {
		t.Fatal("both orders were seen")
	}
	if p50 != ms(1) || p99 != ms(2.5) {
		t.Fatalf("averaged p50 %v p99 %v, want 1ms 2.5ms", p50, p99)
	}
	if g, p := OrderCounts(reps); g != 1 || p != 3 {
		t.Fatalf("OrderCounts = %d, %d, want 1, 3", g, p)
	}
	if GatewayFirst.String() != "gateway first" || PlainFirst.String() != "plain first" || OrderUnclear.String() != "unclear" {
		t.Fatal("order names")
	}
}
