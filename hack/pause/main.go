// Command pause is the pod sandbox image's process for the local real-node test: it sleeps until
// SIGTERM or SIGINT and reaps nothing (it is alone in its PID namespace).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
