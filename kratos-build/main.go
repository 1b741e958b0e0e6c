// Command kratos is Ory Kratos, built from its published Go module at the version
// pinned in go.mod. Kratos cannot be installed with `go install module@version`
// because its own go.mod carries replace directives, and replace directives only
// apply in the main module; this module is that main module.
package main

import (
	"os"

	"github.com/ory/kratos/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
