with System;

package body Septet_Q3P5 is

   function C_Quantize (W : System.Address; Rows, Cols : Integer_64; Output : System.Address;
                        Capacity : size_t; N_Bytes : access size_t) return int
   with Import, Convention => C, External_Name => "septet_q3p5_quantize";

   function C_Dequantize (Packed : System.Address; Packed_Bytes : size_t; Rows, Cols : Integer_64;
                          Output : System.Address; Out_Count : size_t) return int
   with Import, Convention => C, External_Name => "septet_q3p5_dequantize";

   function C_Matvec (Packed : System.Address; Packed_Bytes : size_t; Rows, Cols : Integer_64;
                      X : System.Address; X_Count : size_t; Y : System.Address; Y_Count : size_t) return int
   with Import, Convention => C, External_Name => "septet_q3p5_matvec";

   function C_Row_Bytes_Raw (Cols : Integer_64; Output : access size_t) return int
   with Import, Convention => C, External_Name => "septet_q3p5_row_bytes";

   function Dot_I32 (Q : Act_Array; V : Code_Array) return Integer_32 is
      Acc : Integer_32 := 0;
      J   : Positive := V'First;
   begin
      for I in Q'Range loop
         --  |Acc| <= 127 * 15 * (products so far) <= 127 * 15 * K_Max < 2**31.
         Acc := Acc + Q (I) * V (J);
         pragma Loop_Invariant (abs Acc <= Act_Max * Code4_Max * Integer_32 (I - Q'First + 1));
         if I < Q'Last then
            J := J + 1;
         end if;
      end loop;
      return Acc;
   end Dot_I32;

   function Headers_Finite (Packed : Byte_Array; Rows : Positive; Cols : Cols_Count) return Boolean is
      RB : constant Positive := Row_Bytes (Cols);
      N_Blocks : constant Positive := (Cols + Block_Size - 1) / Block_Size;
   begin
      for R in 0 .. Rows - 1 loop
         for B in 0 .. N_Blocks - 1 loop
            declare
               At0 : constant Positive := Packed'First + R * RB + B * Block_Bytes;
               Hdr : constant Unsigned_32 :=
                 Unsigned_32 (Packed (At0)) or Shift_Left (Unsigned_32 (Packed (At0 + 1)), 8)
                 or Shift_Left (Unsigned_32 (Packed (At0 + 2)), 16) or Shift_Left (Unsigned_32 (Packed (At0 + 3)), 24);
            begin
               if (Shift_Right (Hdr, 10) and 31) = 31 or else (Shift_Right (Hdr, 26) and 31) = 31 then
                  return False;
               end if;
            end;
         end loop;
      end loop;
      return True;
   end Headers_Finite;

   procedure Quantize (W : Float_Array; Rows : Positive; Cols : Cols_Count; Packed : out Byte_Array;
                       Result : out Status) is
      N : aliased size_t := 0;
   begin
      Result := Status (C_Quantize (W (W'First)'Address, Integer_64 (Rows), Integer_64 (Cols),
                                    Packed (Packed'First)'Address, Packed'Length, N'Access));
   end Quantize;

   procedure Dequantize (Packed : Byte_Array; Rows : Positive; Cols : Cols_Count; W : out Float_Array;
                         Result : out Status) is
   begin
      Result := Status (C_Dequantize (Packed (Packed'First)'Address, Packed'Length, Integer_64 (Rows),
                                      Integer_64 (Cols), W (W'First)'Address, W'Length));
   end Dequantize;

   procedure Matvec (Packed : Byte_Array; Rows : Positive; Cols : Cols_Count; X : Float_Array;
                     Y : out Float_Array; Result : out Status) is
   begin
      Result := Status (C_Matvec (Packed (Packed'First)'Address, Packed'Length, Integer_64 (Rows),
                                  Integer_64 (Cols), X (X'First)'Address, X'Length, Y (Y'First)'Address,
                                  Y'Length));
   end Matvec;

   function C_Row_Bytes (Cols : Cols_Count) return Natural is
      N : aliased size_t := 0;
   begin
      if C_Row_Bytes_Raw (Integer_64 (Cols), N'Access) /= 0 then
         return 0;
      end if;
      return Natural (N);
   end C_Row_Bytes;

end Septet_Q3P5;
