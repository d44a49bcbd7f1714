// Command etcd is the etcd server the Sluice sandbox runs, built from the Go
// module proxy. go.etcd.io/etcd/server/v3 carries replace directives, so
// `go install` refuses it; this wrapper module pins its siblings instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
