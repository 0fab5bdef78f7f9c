from audio_gs.cli import main

raise SystemExit(main())
