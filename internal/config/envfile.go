package config

import (
	"os"

	"github.com/joho/godotenv"
)

// envFile applies GATEWAY_ENV_FILE: the NAME=value lines of that file (the dotenv format of
// docker compose's env_file and systemd's EnvironmentFile: # comments, quoted values, which may
// span lines) are read over the environment, a name set in both taking the file's value. The
// file is read by every Load, so a running gateway that loads its configuration again (SIGHUP)
// sees the file's new content; its own environment cannot change.
func (l *loader) envFile() {
	path := l.env["GATEWAY_ENV_FILE"]
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		l.bad["GATEWAY_ENV_FILE"] = true
		l.problems.wrap("GATEWAY_ENV_FILE", err, "cannot read %q: %v; set the path of a file of NAME=value lines", path, err)
		return
	}
	defer f.Close()
	vars, err := godotenv.Parse(f)
	if err != nil {
		l.bad["GATEWAY_ENV_FILE"] = true
		// The parser's message quotes the file, which may hold secrets: it is not shown.
		l.problems.add("GATEWAY_ENV_FILE", "%q is not a file of NAME=value lines: a line is neither NAME=value, a # comment nor blank, or a quote is not closed", path)
		return
	}
	for k, v := range vars {
		if k == "GATEWAY_ENV_FILE" {
			l.problems.add("GATEWAY_ENV_FILE", "%q sets GATEWAY_ENV_FILE itself; set it in the environment only", path)
			continue
		}
		l.env[k] = v
	}
}
