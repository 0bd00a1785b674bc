// Package harness starts real servers for integration tests: Synapse (the
// Matrix homeserver) and a NoneBot2 app (a real OneBot v11/v12 client), each
// as a child process in its own process group with its output in a log file.
//
// Python packages are installed by the harness itself into git-ignored
// virtual environments under <repo>/.cache (see EnsureVenv): the first run
// needs the package registry, later runs start at once.
//
// # One server per test
//
//	func TestSomething(t *testing.T) {
//		hs := harness.SynapseForTest(t, harness.SynapseOptions{})
//		alice, err := hs.RegisterUser(ctx, "alice", "alicepass", false)
//		...
//		cli, err := hs.Client(alice) // *mautrix.Client
//	}
//
// # One server per package
//
// Synapse starts in about two seconds; a package with many tests can share
// one with TestMain (register users with RegisterUniqueUser so tests do not
// collide):
//
//	var hs *harness.Homeserver
//
//	func TestMain(m *testing.M) {
//		ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
//		var err error
//		hs, err = harness.StartSynapse(ctx, harness.SynapseOptions{})
//		cancel()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		hs.Stop()
//		os.Exit(code)
//	}
//
// Tests that change server-wide settings (rate limits, token lifetimes) start
// their own server with SynapseOptions.ExtraConfig instead.
//
// # Subpackages
//
// Parts that stand on the helpers above live in subpackages: postgres, chromium (a headless
// browser for the admin page), zerobot (the Go OneBot client) and image (the static build and the
// container image). They use the process and cache helpers this package exports for them
// (export.go).
//
// # PostgreSQL
//
// postgres.ForTest (or postgres.Start in a TestMain) makes a throwaway cluster with the Debian
// package's initdb and postgres, on a loopback port with trust authentication, and
// DatabaseForTest gives each test a new database's postgres:// URL. As root, the server runs as
// the user nobody (initdb refuses root). Only missing binaries skip; .ci/run installs them.
//
// A child is killed by the kernel if the test binary dies without stopping
// it (Linux), so an interrupted `go test` leaves no servers behind.
package harness
