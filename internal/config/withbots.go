package config

// LoadWithBots is Load with MATRIX_BOTS set to bots (a JSON list), whatever the environment,
// GATEWAY_ENV_FILE and MATRIX_BOTS_FILE say of it: the admin page checks a bot to add with it,
// with the other variables as the gateway has them.
func LoadWithBots(environ []string, bots string) (*Config, error) {
	l := loader{env: environMap(environ), bad: make(map[string]bool)}
	l.envFile()
	delete(l.env, "MATRIX_BOTS_FILE")
	l.env["MATRIX_BOTS"] = bots
	cfg := l.load()
	if len(l.problems) > 0 {
		return nil, &Error{Problems: l.problems}
	}
	return cfg, nil
}
