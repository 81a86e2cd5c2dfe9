// Command routelb is the operators' tool. `routelb render` prints the frr.conf (or, with
// --routing-daemon bird, the bird.conf) a node's speaker would write, from YAML files of the
// objects, through the speaker's own code path. `routelb status` shows, from a cluster, who announces
// each VIP and the state of each node's sessions.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: routelb COMMAND [flags]

commands:
  render   print the frr.conf (or bird.conf) the speaker writes for a node (routelb render -h)
  status   show from a cluster who announces each VIP, to which peers, and each node's sessions (routelb status -h)
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "render":
		return render(args[1:], stdin, stdout, stderr)
	case "status":
		return status(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		_, _ = fmt.Fprint(stdout, usage)
		return 0
	default:
		_, _ = fmt.Fprintf(stderr, "routelb: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
