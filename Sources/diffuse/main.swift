import DiffuseCLI
import Foundation

exit(Diffuse.execute(Array(CommandLine.arguments.dropFirst())))
