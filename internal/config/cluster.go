package config

import "net/url"

// cluster checks GATEWAY_CLUSTER and GATEWAY_CLUSTER_URL: several gateways sharing the bots of
// one PostgreSQL database (internal/cluster).
func (l *loader) cluster(cfg *Config, v *envVars) {
	g := &cfg.Gateway
	g.Cluster, g.ClusterURL = bool(v.Cluster), v.ClusterURL
	if g.ClusterURL != "" {
		if u, err := url.Parse(g.ClusterURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.problems.add("GATEWAY_CLUSTER_URL", "%q is not an http:// or https:// URL; set the URL other gateways reach this one at, e.g. http://10.0.0.5:5700", g.ClusterURL)
		}
	}
	if !g.Cluster {
		return
	}
	if !g.DatabaseIsPostgres() && !l.bad["GATEWAY_DATABASE"] {
		l.problems.add("GATEWAY_CLUSTER", "needs GATEWAY_DATABASE to be a postgres:// URL (the gateways share the bots through it)")
	}
	for _, b := range cfg.Bots {
		if b.UserID == "" {
			l.problems.add("GATEWAY_CLUSTER", "every bot needs user_id when several gateways share the bots (its lock is keyed by it); MATRIX_BOTS[%d] has none", b.Index)
		}
	}
}
