// Command web is the backend of the real-node test's Services: it answers every HTTP request on
// :8080 with its pod's name, so a test can tell which pod served a request through a VIP.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	name, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, name)
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
