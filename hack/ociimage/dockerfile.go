package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Spec is what the runtime stage of the Dockerfile says the image contains. `make image`
// builds its rootfs from it, so the Dockerfile stays the single source of truth for the
// packages, the user and the entrypoint; an instruction this parser does not know is an
// error rather than something silently left out of the image.
type Spec struct {
	// Base is the FROM image of the runtime stage, e.g. debian:bookworm-slim.
	Base string
	// Suite is the Debian suite of Base (bookworm).
	Suite string
	// Packages are the packages of `apt-get install`, in the Dockerfile's order.
	Packages []string
	// UserAdd is the useradd command (argv) that creates the runtime user.
	UserAdd []string
	// Accounts are the groupadd and useradd commands (argv), in the Dockerfile's order.
	Accounts [][]string
	// User is the USER instruction (uid:gid).
	User string
	// Entrypoint and Cmd are the exec-form ENTRYPOINT and CMD.
	Entrypoint []string
	Cmd        []string
	// Binary is where the operator binary is copied (the COPY destination).
	Binary string
	// Env is the ENV instructions, as KEY=VALUE.
	Env []string
	// WorkingDir is the WORKDIR, "" for none.
	WorkingDir string
}

var baseRE = regexp.MustCompile(`^debian:([a-z]+)(-slim)?$`)

// instructions returns the Dockerfile's instructions (continuation lines joined, comments
// dropped), each as keyword and argument.
func instructions(text string) [][2]string {
	var out [][2]string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		cont := strings.HasSuffix(line, `\`)
		line = strings.TrimSuffix(line, `\`)
		cur.WriteString(line)
		cur.WriteString(" ")
		if cont {
			continue
		}
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		kw, arg, _ := strings.Cut(full, " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(arg)})
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		kw, arg, _ := strings.Cut(rest, " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(arg)})
	}
	return out
}

// ParseDockerfile reads the runtime (last) stage of a Dockerfile.
func ParseDockerfile(path string) (*Spec, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the Dockerfile named on the command line
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	return parseDockerfile(string(b))
}

func parseDockerfile(text string) (*Spec, error) {
	all := instructions(text)
	last := -1
	for i, in := range all {
		if in[0] == "FROM" {
			last = i
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}
	s := &Spec{}
	for _, in := range all[last:] {
		kw, arg := in[0], in[1]
		var err error
		switch kw {
		case "FROM":
			err = s.from(arg)
		case "RUN":
			err = s.run(arg)
		case "COPY":
			err = s.copyBinary(arg)
		case "USER":
			s.User = arg
		case "ENTRYPOINT":
			s.Entrypoint, err = execForm(kw, arg)
		case "CMD":
			s.Cmd, err = execForm(kw, arg)
		case "ENV":
			err = s.env(arg)
		case "WORKDIR":
			s.WorkingDir = arg
		default:
			err = fmt.Errorf("instruction %s is not understood by hack/ociimage (teach it, or `make image` would build a different image)", kw)
		}
		if err != nil {
			return nil, fmt.Errorf("runtime stage, %s %s: %w", kw, arg, err)
		}
	}
	switch {
	case len(s.Packages) == 0:
		return nil, fmt.Errorf("runtime stage installs no packages (want apt-get install ... PKGS)")
	case len(s.UserAdd) == 0:
		return nil, fmt.Errorf("runtime stage creates no user (want useradd ...)")
	case s.User == "":
		return nil, fmt.Errorf("runtime stage has no USER")
	case len(s.Entrypoint) == 0:
		return nil, fmt.Errorf("runtime stage has no ENTRYPOINT")
	case s.Binary == "":
		return nil, fmt.Errorf("runtime stage copies no binary (want COPY --from=builder SRC DEST)")
	}
	return s, nil
}

func (s *Spec) from(arg string) error {
	f := strings.Fields(arg)
	if len(f) == 0 {
		return fmt.Errorf("empty FROM")
	}
	m := baseRE.FindStringSubmatch(f[0])
	if m == nil {
		return fmt.Errorf("base %q is not debian:<suite>[-slim]: the rootfs is built with debootstrap", f[0])
	}
	s.Base, s.Suite = f[0], m[1]
	return nil
}

// run understands the commands of the runtime stage's RUN, joined by &&.
func (s *Spec) run(arg string) error {
	for _, part := range strings.Split(arg, "&&") {
		argv := strings.Fields(part)
		if len(argv) == 0 {
			return fmt.Errorf("empty command")
		}
		switch {
		case len(argv) == 2 && argv[0] == "apt-get" && argv[1] == "update":
		case argv[0] == "apt-get" && len(argv) > 2 && argv[1] == "install":
			if err := s.aptInstall(argv[2:]); err != nil {
				return err
			}
		case len(argv) == 3 && argv[0] == "rm" && argv[1] == "-rf" && argv[2] == "/var/lib/apt/lists/*":
		case argv[0] == "useradd":
			if len(s.UserAdd) > 0 {
				return fmt.Errorf("a second useradd")
			}
			s.UserAdd = argv
			s.Accounts = append(s.Accounts, argv)
		case argv[0] == "groupadd":
			s.Accounts = append(s.Accounts, argv)
		default:
			return fmt.Errorf("command %q is not understood", strings.TrimSpace(part))
		}
	}
	return nil
}

// aptInstall reads the arguments of `apt-get install`.
func (s *Spec) aptInstall(args []string) error {
	for _, a := range args {
		switch {
		case a == "-y" || a == "--no-install-recommends":
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("apt-get install option %s is not understood", a)
		default:
			s.Packages = append(s.Packages, a)
		}
	}
	if !contains(args, "--no-install-recommends") {
		return fmt.Errorf("apt-get install without --no-install-recommends (debootstrap never installs Recommends)")
	}
	return nil
}

func (s *Spec) copyBinary(arg string) error {
	f := strings.Fields(arg)
	if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") {
		return fmt.Errorf("want COPY --from=STAGE SRC DEST (the operator binary)")
	}
	if s.Binary != "" {
		return fmt.Errorf("a second COPY")
	}
	s.Binary = f[2]
	return nil
}

func (s *Spec) env(arg string) error {
	k, v, ok := strings.Cut(arg, "=")
	if !ok || strings.ContainsAny(k, " \t") || strings.ContainsAny(v, " \t\"'") {
		return fmt.Errorf("only ENV KEY=VALUE (one, unquoted) is understood")
	}
	s.Env = append(s.Env, k+"="+v)
	return nil
}

func execForm(kw, arg string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(arg), &v); err != nil || len(v) == 0 {
		return nil, fmt.Errorf("%s must be in exec (JSON array) form", kw)
	}
	return v, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// UserName is the name the useradd command creates (its last argument).
func (s *Spec) UserName() string { return s.UserAdd[len(s.UserAdd)-1] }

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Shell prints the spec as shell assignments for hack/image.sh (eval).
func (s *Spec) Shell() string {
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(v)) }
	kv("OCI_BASE", s.Base)
	kv("OCI_SUITE", s.Suite)
	kv("OCI_PACKAGES", strings.Join(s.Packages, " "))
	accounts := make([]string, 0, len(s.Accounts))
	for _, a := range s.Accounts {
		accounts = append(accounts, strings.Join(a, " "))
	}
	kv("OCI_ACCOUNTS", strings.Join(accounts, "\n"))
	kv("OCI_USER", s.User)
	kv("OCI_BINARY", s.Binary)
	return b.String()
}
