package config

import "strings"

// pprof checks GATEWAY_PPROF: profiles show the process's memory and stacks, so only a loopback
// address is accepted.
func (l *loader) pprof(g *Gateway, v *envVars) {
	g.Pprof = strings.TrimSpace(v.Pprof)
	if g.Pprof == "" {
		return
	}
	loopback, err := parseListen(g.Pprof)
	switch {
	case err != nil:
		l.problems.wrap("GATEWAY_PPROF", err, "%q is %v; set a loopback host:port such as 127.0.0.1:6060, or leave it unset (off)", g.Pprof, err)
	case !loopback:
		l.problems.add("GATEWAY_PPROF", "%q is not a loopback address: profiles show the process's memory; set 127.0.0.1:PORT, or leave it unset (off)", g.Pprof)
	}
}
