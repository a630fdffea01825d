from cqt.cli import main

main()
