package bench

import (
	"fmt"
	"strings"
	"time"
)

// AnswerOverhead is the receive overhead of the gateway measured against each client's own /sync
// answer, over the messages whose four times are all known.
type AnswerOverhead struct {
	Sent    int // messages asked about
	Matched int // messages with both answers and both arrivals
	// Arrivals at a client with no /sync answer of its own holding the message (the gateway
	// fetched it another way, or the proxy could not read the answer): left out.
	GWNoAnswer, PlainNoAnswer int

	P50, P99         time.Duration // per message, the gateway's side minus the plain client's
	Diffs            Dist          // that difference for each matched message
	GW50, GW99       time.Duration // the gateway's side: its /sync answer complete → its v12 client has it
	Plain50, Plain99 time.Duration // the plain side: its /sync answer complete → its handler has it
}

// CompareAnswered measures, for each message of keys, the gateway's side (arrival at its v12
// client minus its /sync answer's completion at its proxy) minus the plain client's side (arrival
// at the plain observer minus its own answer's completion), and returns the percentiles of that
// difference and of each side. All times are of one clock (the benchmark's process).
func CompareAnswered(keys []string, gwAnswer, gwArrive, plainAnswer, plainArrive map[string]time.Time) AnswerOverhead {
	o := AnswerOverhead{Sent: len(keys)}
	var diff, gw, plain Dist
	for _, k := range keys {
		ga, okGA := gwAnswer[k]
		gr, okGR := gwArrive[k]
		pa, okPA := plainAnswer[k]
		pr, okPR := plainArrive[k]
		if okGR && !okGA {
			o.GWNoAnswer++
		}
		if okPR && !okPA {
			o.PlainNoAnswer++
		}
		if !okGA || !okGR || !okPA || !okPR {
			continue
		}
		g, p := gr.Sub(ga), pr.Sub(pa)
		gw, plain, diff = append(gw, g), append(plain, p), append(diff, g-p)
	}
	o.Matched, o.Diffs = len(diff), diff
	o.P50, o.P99 = diff.Percentile(50), diff.Percentile(99)
	o.GW50, o.GW99 = gw.Percentile(50), gw.Percentile(99)
	o.Plain50, o.Plain99 = plain.Percentile(50), plain.Percentile(99)
	return o
}

// AddOwnAnswerSection adds to report a table of, for every repetition, the receive overhead
// against each client's own /sync answer (the timing proxies), and checks the receive targets on
// the messages of the two-client repetitions together (the second and later: only the gateway and
// one plain client sync), or on the first repetition's when it is the only one (every observer
// of tables (a) and (b) running; withSeed: the seed adapter too).
func AddOwnAnswerSection(report *Report, reps []Repetition, withSeed bool) {
	sec := &Section{
		Title: "(a) Receive overhead against each client's own /sync answer (the receive check)",
		Header: []string{"repetition", "plain /sync user", "order seen", "messages matched",
			"gateway: its answer → v12 client p50 ms", "p99 ms", "plain: its answer → handler p50 ms", "p99 ms",
			"overhead per message p50 ms", "p99 ms"},
	}
	noAnswer := 0
	var pooled Dist
	pooledSent := 0
	for i, rp := range reps {
		o := rp.Own
		user, _, _ := strings.Cut(rp.Plain, " (")
		sec.Add(i+1, user, rp.Order.String(), fmt.Sprintf("%d of %d", o.Matched, o.Sent),
			Ms(o.GW50), Ms(o.GW99), Ms(o.Plain50), Ms(o.Plain99), Ms(o.P50), Ms(o.P99))
		noAnswer += o.GWNoAnswer + o.PlainNoAnswer
		if i > 0 {
			pooled, pooledSent = append(pooled, o.Diffs...), pooledSent+o.Sent
		}
	}
	checked := AnswerOverhead{}
	var on string
	if len(reps) > 1 {
		checked = AnswerOverhead{Sent: pooledSent, Matched: len(pooled), P50: pooled.Percentile(50), P99: pooled.Percentile(99)}
		on = fmt.Sprintf("the messages of repetitions 2 to %d together (%d of %d matched; only the gateway and one plain client syncing), "+
			"listed as \"2–%d\" above", len(reps), len(pooled), pooledSent, len(reps))
		sec.Add(fmt.Sprintf("2–%d", len(reps)), "(together: the check)", "both draws", fmt.Sprintf("%d of %d", len(pooled), pooledSent),
			"", "", "", "", Ms(checked.P50), Ms(checked.P99))
	} else if len(reps) == 1 {
		checked = reps[0].Own
		on = "the first repetition (bob, with every observer of tables (a) and (b) running"
		if withSeed {
			on += ", the seed adapter included"
		}
		on += "), the only one"
	}
	first := "The first repetition runs with every observer of tables (a) and (b)"
	if withSeed {
		first += ", the seed adapter included (a Python process that spends about 28 ms of CPU per message on this machine's two cores while the gateway and the plain client handle the same message)"
	}
	sec.Notes = []string{"The gateway and each plain /sync client reach Synapse through a timing proxy of their own in the benchmark's process " +
		"(test/bench TimingProxy: every request forwarded unchanged and streamed, keep-alive; a /sync answer is read whole, its completion noted, " +
		"then written on). Per message, overhead = (arrival at the gateway's v12 WebSocket client − the gateway's /sync answer complete at its proxy) − " +
		"(arrival at the plain client's handler − the plain client's own /sync answer complete at its proxy), all on the benchmark's clock " +
		"(the observers report over loopback UDP). Which answer Synapse computes first, and how long it takes, drops out; what is left is " +
		"what the gateway does with its answer up to its WebSocket client (parse, store, convert, write, and that client's read) against what a " +
		"plain mautrix client does with its own (parse, handler), each after the same loopback hop from its proxy. A message is matched when " +
		"both clients reported it and a /sync answer through each one's proxy held it. " +
		first + "; the later ones stop the seed adapter and bob's client, so that the comparison is the gateway against one plain client, each on its own answer. " +
		fmt.Sprintf("The receive targets are checked on %s.", on)}
	if noAnswer > 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("%d arrivals had no /sync answer of their client holding them (fetched another way) and are left out.", noAnswer))
	}
	report.Sections = append(report.Sections, sec)

	name50 := "receive overhead p50, against each client's own /sync answer"
	name99 := "receive overhead p99, against each client's own /sync answer"
	switch {
	case len(reps) == 0:
		report.Missing(name50, "≤ 1 ms", "no receive measurement")
		report.Missing(name99, "≤ 5 ms", "no receive measurement")
	case checked.Matched > 0:
		report.Check(name50, "ms", Ms(checked.P50), 1)
		report.Check(name99, "ms", Ms(checked.P99), 5)
	default:
		why := fmt.Sprintf("no message of %d matched to both clients' /sync answers", checked.Sent)
		report.Missing(name50, "≤ 1 ms", why)
		report.Missing(name99, "≤ 5 ms", why)
	}
}
