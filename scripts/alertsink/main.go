// Command alertsink prints the alert events that mailmon's webhook output
// posts to it, one line each: the receiving end of `make demo`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/mailmon/mailmon/outputs"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18080", "`address` to listen on")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var ev outputs.Event
		if err == nil {
			err = json.Unmarshal(b, &ev)
		}
		if err != nil {
			http.Error(w, "not a mailmon alert event: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(os.Stdout, "ALERT %-12s %s  [dedup_key %s]\n", ev.Type, ev.Summary(), ev.DedupKey)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
