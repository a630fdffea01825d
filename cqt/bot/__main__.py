from cqt.cli.bot import main

main()
