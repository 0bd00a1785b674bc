package bench

import "time"

// Synapse wakes the long polls of a room's users one after the other, in the order of a Python
// set of its per-user notifier streams (synapse/notifier.py, on_new_room_events), and computes
// the woken /sync answers in that order, a few ms each. That order is fixed for the life of the
// streams, so whichever of two clients comes first is ahead by a few ms for every message of a
// run: a coin flip per run, larger than the 1 ms receive target. A fresh user gets a fresh
// stream, so a fresh draw; the functions here tell a run's order from its arrivals and average
// the overhead over both orders.

// WakeOrder is which of the gateway's client and the plain /sync client Synapse served first in
// a repetition.
type WakeOrder int

const (
	OrderUnclear WakeOrder = iota // as many messages ahead as behind (or none compared)
	GatewayFirst
	PlainFirst
)

func (o WakeOrder) String() string {
	switch o {
	case GatewayFirst:
		return "gateway first"
	case PlainFirst:
		return "plain first"
	default:
		return "unclear"
	}
}

// AheadShare compares, message by message, the arrivals at the gateway's client (gw) and at the
// plain /sync client (plain), both by key: it returns the share of the messages both received
// where the gateway's client was strictly ahead, and how many messages were compared.
func AheadShare(gw, plain map[string]time.Time) (share float64, compared int) {
	ahead := 0
	for k, g := range gw {
		p, ok := plain[k]
		if !ok {
			continue
		}
		compared++
		if g.Before(p) {
			ahead++
		}
	}
	if compared == 0 {
		return 0, 0
	}
	return float64(ahead) / float64(compared), compared
}

// OrderOf is the order a repetition shows: the gateway first when it was ahead for most of the
// messages compared, plain first when behind for most, unclear at exactly half or with none.
func OrderOf(share float64, compared int) WakeOrder {
	switch {
	case compared == 0 || share == 0.5:
		return OrderUnclear
	case share > 0.5:
		return GatewayFirst
	default:
		return PlainFirst
	}
}

// Repetition is one receive measurement against one plain /sync user.
type Repetition struct {
	Plain    string // the plain client's user
	Sent     int    // messages sent
	GW, Got  int    // messages received by the gateway's client and by the plain client
	Share    float64
	Compared int
	Order    WakeOrder
	P50, P99 time.Duration // gateway's client minus plain client, of the latency percentiles
	Behind50 time.Duration // per message, gateway's arrival minus plain's: p50
	Behind99 time.Duration // … and p99
	// The order-free measurement: against each client's own /sync answer (TimingProxy), set by
	// the caller.
	Own AnswerOverhead
}

// CompareRepetition measures one repetition from the send times and the arrivals at the
// gateway's client and at the plain client (all by key): the latency percentiles of each over
// the messages it received, the per-message lag over the messages both received, and the order.
func CompareRepetition(plainUser string, sent, gw, plain map[string]time.Time) Repetition {
	var latGW, latPlain, behind Dist
	gwAt, plainAt := map[string]time.Time{}, map[string]time.Time{}
	for k, start := range sent {
		g, okG := gw[k]
		p, okP := plain[k]
		if okG {
			latGW = append(latGW, g.Sub(start))
			gwAt[k] = g
		}
		if okP {
			latPlain = append(latPlain, p.Sub(start))
			plainAt[k] = p
		}
		if okG && okP {
			behind = append(behind, g.Sub(p))
		}
	}
	share, n := AheadShare(gwAt, plainAt)
	return Repetition{
		Plain: plainUser, Sent: len(sent), GW: len(latGW), Got: len(latPlain),
		Share: share, Compared: n, Order: OrderOf(share, n),
		P50: latGW.Percentile(50) - latPlain.Percentile(50), P99: latGW.Percentile(99) - latPlain.Percentile(99),
		Behind50: behind.Percentile(50), Behind99: behind.Percentile(99),
	}
}

// BothOrders reports whether reps hold at least one repetition of each order.
func BothOrders(reps []Repetition) bool {
	g, p := OrderCounts(reps)
	return g > 0 && p > 0
}

// OrderCounts is how many repetitions showed the gateway first and how many plain first.
func OrderCounts(reps []Repetition) (gatewayFirst, plainFirst int) {
	for _, r := range reps {
		switch r.Order {
		case GatewayFirst:
			gatewayFirst++
		case PlainFirst:
			plainFirst++
		}
	}
	return gatewayFirst, plainFirst
}

// OrderAveraged is the receive overhead averaged over Synapse's wake order: for the p50 and the
// p99 differences, ½(mean over the repetitions where the gateway was first + mean over those
// where plain was first). Repetitions of unclear order are left out. ok is false unless both
// orders were seen: one order alone is a number biased by a few ms, not an overhead.
func OrderAveraged(reps []Repetition) (p50, p99 time.Duration, ok bool) {
	var sum [3][2]time.Duration
	var n [3]int
	for _, r := range reps {
		if r.Order == OrderUnclear {
			continue
		}
		sum[r.Order][0] += r.P50
		sum[r.Order][1] += r.P99
		n[r.Order]++
	}
	if n[GatewayFirst] == 0 || n[PlainFirst] == 0 {
		return 0, 0, false
	}
	mean := func(o WakeOrder, i int) time.Duration { return sum[o][i] / time.Duration(n[o]) }
	p50 = (mean(GatewayFirst, 0) + mean(PlainFirst, 0)) / 2
	p99 = (mean(GatewayFirst, 1) + mean(PlainFirst, 1)) / 2
	return p50, p99, true
}
