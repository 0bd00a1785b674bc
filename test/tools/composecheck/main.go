// Command composecheck loads a compose file the way docker compose does (compose-go: the
// compose-spec JSON schema, interpolation from the environment, then the model's consistency)
// and prints the resolved project as JSON, or the problems and exit status 1. It is its own
// module so that the gateway's go.mod does not carry compose-go; the tests build it
// (test/harness/tools.go).
//
//	composecheck FILE
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck FILE")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]},
		cli.WithEnv(os.Environ()),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	var pretty any
	_ = json.Unmarshal(out, &pretty)
	out, _ = json.MarshalIndent(pretty, "", "  ")
	fmt.Println(string(out))
}
