app_name = "klaviyo_sandbox"
urlpatterns: list = []
