// Command bench is `make bench`: it measures the gateway as a black box (the binary, configured
// by the environment) and prints one table, in Markdown, comparing the numbers with the targets of
// issues 12 (speed) and 13 (scale):
//
//   - receive latency p50/p99 of a plain /sync client, a OneBot v12 WebSocket client of the
//     gateway, NoneBot2 + nonebot-adapter-onebot through the gateway, and NoneBot2 +
//     nonebot-adapter-matrix (the Python package this project re-implements), all on one Synapse
//     and the same messages, and the CPU seconds per 1,000 messages of each process; the receive
//     overhead of the gateway over the plain client, each timed from its own /sync answer
//     (test/bench TimingProxy, so that Synapse's order of answering them drops out);
//   - the echo round trip (NoneBot2's echo through the gateway, and a direct v12 WebSocket echo)
//     at several command rates, and the send path: send_message through the gateway vs. a direct
//     PUT /send on the same Synapse;
//   - the gateway's start-to-ready time and RSS with 1 and 50 bots on Synapse;
//   - against a stand-in homeserver replaying a recorded /sync stream (test/fakes
//     FakeReplayHomeserver): CPU per incoming message, messages/s, fan-out to 1, 10, 100 v12
//     WebSocket clients, and RSS, idle CPU and start-to-ready of 1, 50 and 1,000 idle bots;
//   - failover: three gateways (GATEWAY_CLUSTER) on a throwaway PostgreSQL share 30 bots on the
//     stand-in under a steady stream of messages; one is killed with SIGKILL: the time until the
//     others run its bots and deliver their events again, and the messages lost or duplicated.
//
// It prints numbers and asserts nothing about speed; `make test` does not run it. Subcommands:
//
//	bench [flags]            the benchmark (flags: -h)
//	bench record -out FILE   record the /sync stream the stand-in replays, from a real Synapse
//	bench observe-sync       the plain /sync client (started by the benchmark itself)
//	bench observe-ws         the OneBot v12 WebSocket client (started by the benchmark itself)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "":
		err = runBench(ctx, args)
	case "record":
		err = runRecord(ctx, args)
	case "observe-sync":
		err = runObserveSync(ctx)
	case "observe-ws":
		err = runObserveWS(ctx)
	default:
		err = fmt.Errorf("unknown subcommand %q (want record, observe-sync, observe-ws or none)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the benchmark's knobs; the defaults keep `make bench` within a few minutes.
type options struct {
	messages      int
	rate          float64
	orderReps     int
	echoRates     []float64
	echoSeconds   float64
	sends         int
	bots          []int
	replayMsgs    int
	replayBatch   int
	fanout        []int
	idleBots      []int
	idleSeconds   float64
	settleSeconds float64
	seed          bool
	out           string
	profileDir    string
	keep          bool
	recording     string
	parts         map[string]bool

	failoverInstances int
	failoverBots      int
	failoverRate      float64
	failoverLimit     float64
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.messages, "messages", 300, "messages sent for the receive latency (part a/b)")
	fs.Float64Var(&o.rate, "rate", 20, "messages per second for the receive latency")
	fs.IntVar(&o.orderReps, "order-reps", 6, "at most this many receive measurements (part a): the first with every observer, then each with a fresh plain /sync user and only it and the gateway syncing, at least 3 of those and until Synapse's wake order of the gateway's bot and the plain user has been seen both ways (printed, with the end-to-end difference averaged over the two orders, for information); the receive targets are checked against each client's own /sync answer on the later measurements together (on the first when it is the only one: 1 never repeats)")
	echoRates := fs.String("echo-rates", "1,5", "echo commands per second, comma-separated (part d)")
	fs.Float64Var(&o.echoSeconds, "echo-seconds", 15, "how long each echo rate is kept up")
	fs.IntVar(&o.sends, "sends", 300, "sends through the gateway and direct PUTs each, one at a time (send path; Synapse takes 25-50 ms per send, so the p50 of 100 moves by about 1 ms between runs)")
	bots := fs.String("bots", "1,50", "bot counts on Synapse for start-to-ready and RSS (part e)")
	fs.IntVar(&o.replayMsgs, "replay-messages", 20000, "messages the stand-in homeserver serves per fan-out step (part c; the gateway's CPU is read in 10 ms clock ticks: 20,000 make one tick 0.5 µs per message)")
	fs.IntVar(&o.replayBatch, "replay-batch", 100, "messages per /sync answer of the stand-in homeserver")
	fanout := fs.String("fanout", "1,10,100", "v12 WebSocket clients per fan-out step, increasing")
	idle := fs.String("idle-bots", "1,50,1000", "idle bot counts on the stand-in homeserver (RSS, CPU, start-to-ready)")
	fs.Float64Var(&o.idleSeconds, "idle-seconds", 10, "how long idle CPU is measured for")
	fs.Float64Var(&o.settleSeconds, "settle-seconds", 5, "how long after all-ready the idle window starts")
	fs.BoolVar(&o.seed, "seed", true, "also measure NoneBot2 + nonebot-adapter-matrix (installs it into .cache/venv-bench-seed)")
	fs.StringVar(&o.out, "out", "", "also write the table to this file")
	fs.StringVar(&o.profileDir, "profile", "", "directory for pprof CPU and allocation profiles of the gateway under load (uses GATEWAY_PPROF)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (logs of every process) and print where it is")
	fs.StringVar(&o.recording, "recording", "test/fakes/testdata/sync-recording.json", "the /sync recording the stand-in replays (relative to the repository root)")
	fs.IntVar(&o.failoverInstances, "failover-instances", 3, "gateways sharing the bots in the failover part (one is killed)")
	fs.IntVar(&o.failoverBots, "failover-bots", 30, "bots the gateways of the failover part share")
	fs.Float64Var(&o.failoverRate, "failover-rate", 10, "messages per second to every bot during the failover part")
	fs.Float64Var(&o.failoverLimit, "failover-limit", 60, "seconds the failover part waits after the kill for every moved bot")
	parts := fs.String("parts", "relay,echo,send,bots,replay,idle,failover", "parts to run: relay (a, b), echo and send (d), bots (e on Synapse), replay (c), idle (e on the stand-in), failover (f: several gateways on PostgreSQL, one killed)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.echoRates, err = floats("-echo-rates", *echoRates); err != nil {
		return nil, err
	}
	if o.bots, err = ints("-bots", *bots); err != nil {
		return nil, err
	}
	if o.fanout, err = ints("-fanout", *fanout); err != nil {
		return nil, err
	}
	if o.idleBots, err = ints("-idle-bots", *idle); err != nil {
		return nil, err
	}
	o.parts = map[string]bool{}
	for p := range strings.SplitSeq(*parts, ",") {
		switch p = strings.TrimSpace(p); p {
		case "relay", "echo", "send", "bots", "replay", "idle", "failover":
			o.parts[p] = true
		case "":
		default:
			return nil, fmt.Errorf("-parts: unknown part %q (want relay, echo, send, bots, replay, idle, failover)", p)
		}
	}
	switch {
	case o.messages < 1 || o.rate <= 0 || o.echoSeconds <= 0 || o.sends < 1 || o.orderReps < 1:
		return nil, fmt.Errorf("-messages, -rate, -echo-seconds, -sends and -order-reps must be positive")
	case o.replayMsgs < 1 || o.replayBatch < 1 || o.idleSeconds <= 0 || o.settleSeconds < 0:
		return nil, fmt.Errorf("-replay-messages, -replay-batch and -idle-seconds must be positive, -settle-seconds not negative")
	case o.failoverInstances < 2 || o.failoverBots < 1 || o.failoverRate <= 0 || o.failoverLimit <= 0:
		return nil, fmt.Errorf("-failover-instances must be at least 2 (one is killed), -failover-bots, -failover-rate and -failover-limit positive")
	}
	return o, nil
}

func ints(name, s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a list of positive whole numbers", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func floats(name, s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q is not a list of positive numbers", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}
