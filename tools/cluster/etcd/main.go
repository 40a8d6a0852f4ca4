// etcd, built from go.etcd.io/etcd/server/v3 at the version kube-apiserver's module pins:
// the release's own main is one call to etcdmain.Main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
