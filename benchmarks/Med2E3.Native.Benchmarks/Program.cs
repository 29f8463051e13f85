Console.WriteLine("med2e3-bench");
