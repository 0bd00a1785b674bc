package image

import (
	"github.com/matrix-onebot/gateway/test/harness"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// StaticBuildTags and StaticLDFlags build the gateway as deploy/Dockerfile does: SQLite through
// cgo linked statically with glibc, without loadable extensions, with Go's own user and DNS
// lookups, so that the binary runs in a scratch image.
const (
	StaticBuildTags = "goolm sqlite_omit_load_extension osusergo netgo"
	StaticLDFlags   = "-s -w -linkmode external -extldflags -static"
)

// ErrNoApt means a tool is missing and cannot be installed here (no apt-get): the test skips.
var ErrNoApt = errors.New("apt-get is not available to install it")

// EnsureAptTool makes sure the command bin is on PATH, installing the Debian package pkg with
// apt-get (after apt-get update) when it is missing, as CI does on a clean machine (as root).
func EnsureAptTool(ctx context.Context, bin, pkg string) error {
	if _, err := exec.LookPath(bin); err == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s is missing (Debian package %s): %w", bin, pkg, ErrNoApt)
	}
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", pkg}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s is missing and apt-get %s failed (run as root, or install %s): %w\n%s",
				bin, strings.Join(args, " "), pkg, err, tail(out, 20))
		}
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("apt-get installed %s, but %s is still not on PATH", pkg, bin)
	}
	return nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BuildStaticGateway builds the gateway as a static binary into out and checks with file and
// ldd that it is static.
func BuildStaticGateway(ctx context.Context, out string) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", StaticBuildTags, "-ldflags", StaticLDFlags, "-o", out, "./cmd/gateway")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to build the static gateway: %w\n%s", err, b)
	}
	return CheckStatic(ctx, out)
}

// CheckStatic fails unless file says the binary is statically linked and ldd finds no
// libraries in it.
func CheckStatic(ctx context.Context, bin string) error {
	f, err := exec.CommandContext(ctx, "file", "-b", bin).Output()
	if err != nil {
		return fmt.Errorf("file %s: %w", bin, err)
	}
	if !bytes.Contains(f, []byte("statically linked")) {
		return fmt.Errorf("%s is not static: file says %s", bin, bytes.TrimSpace(f))
	}
	// ldd exits 1 with "not a dynamic executable" on a static binary; a dynamic one lists its libraries.
	l, _ := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	if !bytes.Contains(l, []byte("not a dynamic executable")) && !bytes.Contains(l, []byte("statically linked")) {
		return fmt.Errorf("%s is not static: ldd says\n%s", bin, l)
	}
	return nil
}

// Image is a container image built by buildah into its own storage (vfs, under Dir), so that
// tests neither need nor touch the machine's container storage or a registry.
type Image struct {
	Dir  string // storage root and run root live here
	Name string // the image's name, localhost/…
}

func (im *Image) buildah(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"--root", filepath.Join(im.Dir, "root"), "--runroot", filepath.Join(im.Dir, "run"), "--storage-driver", "vfs"}, args...)
	cmd := exec.CommandContext(ctx, "buildah", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("buildah %s: %w\n%s%s", strings.Join(args, " "), err, tail(out, 20), tail(stderr.Bytes(), 20))
	}
	return out, nil
}

// BuildGatewayImage builds deploy/Dockerfile's "prebuilt" target from the static binary bin,
// the machine's CA certificates and zoneinfo, with buildah (chroot isolation, vfs storage, docker
// format so that HEALTHCHECK is kept), into storage under dir. No registry is asked.
func BuildGatewayImage(ctx context.Context, dir, bin string) (*Image, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	bctx := filepath.Join(dir, "context")
	rootfs := filepath.Join(bctx, "rootfs")
	for _, d := range []string{"etc/ssl/certs", "usr/share", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(bctx, "state", "data"), 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777|os.ModeSticky); err != nil {
		return nil, err
	}
	if err := copyFile(bin, filepath.Join(rootfs, "gateway"), 0o755); err != nil {
		return nil, err
	}
	if err := copyFile("/etc/ssl/certs/ca-certificates.crt", filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"), 0o644); err != nil {
		return nil, fmt.Errorf("the image needs the machine's CA certificates (Debian package ca-certificates): %w", err)
	}
	if out, err := exec.CommandContext(ctx, "cp", "-r", "/usr/share/zoneinfo", filepath.Join(rootfs, "usr/share/")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("the image needs the machine's zoneinfo (Debian package tzdata): %w\n%s", err, out)
	}
	im := &Image{Dir: dir, Name: "localhost/matrix-onebot-gateway:test"}
	if _, err := im.buildah(ctx, "build", "--isolation", "chroot", "--format", "docker", "--target", "prebuilt",
		"-f", filepath.Join(root, "deploy", "Dockerfile"), "-t", im.Name, bctx); err != nil {
		return nil, err
	}
	return im, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ImageConfig is the part of an image's (docker format) config that says how it runs.
type ImageConfig struct {
	User         string              `json:"User"`
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	WorkingDir   string              `json:"WorkingDir"`
	Volumes      map[string]struct{} `json:"Volumes"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Healthcheck  *struct {
		Test []string `json:"Test"`
	} `json:"Healthcheck"`
}

// Config reads the image's config with buildah inspect.
func (im *Image) Config(ctx context.Context) (*ImageConfig, error) {
	out, err := im.buildah(ctx, "inspect", "--type", "image", im.Name)
	if err != nil {
		return nil, err
	}
	var v struct {
		Docker struct {
			Config ImageConfig `json:"config"`
		} `json:"Docker"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("buildah inspect: %w", err)
	}
	return &v.Docker.Config, nil
}

// Container is a working container of the image with its root file system mounted: what a
// container runtime would run, without one (none is needed on the machine).
type Container struct {
	im     *Image
	name   string
	Rootfs string
	cfg    *ImageConfig
}

// Mount makes a working container from the image and mounts its root file system.
func (im *Image) Mount(ctx context.Context) (*Container, error) {
	cfg, err := im.Config(ctx)
	if err != nil {
		return nil, err
	}
	out, err := im.buildah(ctx, "from", im.Name)
	if err != nil {
		return nil, err
	}
	c := &Container{im: im, name: strings.TrimSpace(string(out)), cfg: cfg}
	out, err = im.buildah(ctx, "mount", c.name)
	if err != nil {
		return nil, err
	}
	c.Rootfs = strings.TrimSpace(string(out))
	return c, nil
}

// Remove unmounts and removes the working container.
func (c *Container) Remove(ctx context.Context) error {
	_, err := c.im.buildah(ctx, "rm", c.name)
	return err
}

// Command is how the container runs args (the image's entrypoint and cmd when args is nil): the
// image's environment with env on top, chrooted into the image's root file system, as the
// image's user, in its working directory, on the host's network. It needs root.
func (c *Container) Command(env map[string]string, args []string) (harness.ProcessOptions, error) {
	argv := append(append([]string{}, c.cfg.Entrypoint...), c.cfg.Cmd...)
	if args != nil {
		argv = append(append([]string{}, c.cfg.Entrypoint...), args...)
	}
	if len(argv) == 0 {
		return harness.ProcessOptions{}, fmt.Errorf("the image has no entrypoint and no cmd")
	}
	uid, gid, err := parseUser(c.cfg.User)
	if err != nil {
		return harness.ProcessOptions{}, err
	}
	environ := append([]string{}, c.cfg.Env...)
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	dir := c.cfg.WorkingDir
	if dir == "" {
		dir = "/"
	}
	return harness.ProcessOptions{
		Name: "gateway container", Path: argv[0], Args: argv[1:], Env: environ, Dir: dir,
		SysProcAttr: func(a *syscall.SysProcAttr) {
			a.Chroot = c.Rootfs
			a.Credential = &syscall.Credential{Uid: uid, Gid: gid}
		},
	}, nil
}

// Run runs args in the container (see Command) to the end and returns its output and exit code.
func (c *Container) Run(ctx context.Context, env map[string]string, args ...string) (string, int, error) {
	opts, err := c.Command(env, args)
	if err != nil {
		return "", 0, err
	}
	cmd := exec.CommandContext(ctx, opts.Path, opts.Args...)
	cmd.Env, cmd.Dir = opts.Env, opts.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	opts.SysProcAttr(cmd.SysProcAttr)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode(), nil
	}
	return string(out), 0, err
}

// parseUser reads a numeric "uid[:gid]" (the image has no /etc/passwd to look names up in).
func parseUser(u string) (uint32, uint32, error) {
	if u == "" {
		return 0, 0, nil
	}
	us, gs, _ := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("the image's user %q is not numeric", u)
	}
	gid := uid
	if gs != "" {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("the image's group in %q is not numeric", u)
		}
	}
	return uint32(uid), uint32(gid), nil
}
