from chat.client.main import main

main()
