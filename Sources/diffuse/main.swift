import DiffuseCLI

Diffuse.main()
